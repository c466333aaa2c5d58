//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRunRenamesKeepWatching renames folders of a watched source in the
// ways that left copyd's watches describing another tree (issue 11): a
// rename over an empty folder (mv -T), an exchange of two folders and of
// a folder with a file (renameat2 RENAME_EXCHANGE, what atomic deploys
// do), and a rename of a watched parent right after one inside it. Files
// written afterwards in the moved folders must arrive at once: the
// periodic rescan is an hour away.
func TestRunRenamesKeepWatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tree   map[string]string
		act    func(t *testing.T, src string)
		writes []string
	}{
		{
			name: "mv -T over an empty folder",
			tree: map[string]string{"A/sub/f": "a", "B/keep": "b"},
			act: func(t *testing.T, src string) {
				remove(t, filepath.Join(src, "B", "keep"))
				runProgram(t, "mv", "-T", filepath.Join(src, "A"), filepath.Join(src, "B"))
			},
			writes: []string{"B/new", "B/sub/new"},
		},
		{
			name: "exchange two folders",
			tree: map[string]string{"A/sub/f": "a", "B/other/f": "b"},
			act: func(t *testing.T, src string) {
				exchangeT(t, filepath.Join(src, "A"), filepath.Join(src, "B"))
			},
			writes: []string{"A/new", "A/other/new", "B/new", "B/sub/new"},
		},
		{
			name: "exchange a folder and a file",
			tree: map[string]string{"A/sub/f": "a", "F": "file"},
			act: func(t *testing.T, src string) {
				exchangeT(t, filepath.Join(src, "A"), filepath.Join(src, "F"))
			},
			writes: []string{"F/new", "F/sub/new"},
		},
		{
			name: "rename inside a folder, then the folder",
			tree: map[string]string{"P/A/sub/f": "a"},
			act: func(t *testing.T, src string) {
				rename(t, filepath.Join(src, "P", "A"), filepath.Join(src, "P", "B"))
				rename(t, filepath.Join(src, "P"), filepath.Join(src, "Q"))
			},
			writes: []string{"Q/new", "Q/B/new", "Q/B/sub/new"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, src, dst := dirs(t, tt.tree)
			d := runPaths(t, src, dst, "--delete")
			d.converge(src, dst)
			tt.act(t, src)
			d.converge(src, dst)
			for i, rel := range tt.writes {
				write(t, filepath.Join(src, filepath.FromSlash(rel)), fmt.Sprintf("written after the rename %d", i))
			}
			d.finish(src, dst)
		})
	}
}

// TestRunWaitsForTheWriter has a writer pause with the file open halfway
// through it, for longer than settle: the destination must never hold
// the half under the file's name. It used to (settle elapsed, copyd
// copied what was there).
func TestRunWaitsForTheWriter(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"other": "x"})
	d := runPaths(t, src, dst)
	d.converge(src, dst)

	half := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	want := append(bytes.Clone(half), bytes.Repeat([]byte("fedcba9876543210"), 64<<10)...)
	partial := watchForPartial(filepath.Join(dst, "video.mp4"), want)
	f, err := os.Create(filepath.Join(src, "video.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(half); err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond) // the writer's pause, what the test is about (settle is 50 ms)
	if _, err := f.Write(want[len(half):]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	d.converge(src, dst)
	if seen := partial(); len(seen) > 0 {
		t.Errorf("the destination held an incomplete video.mp4 under its name: %v", seen[0])
	}
	d.finish(src, dst)
}

// TestRunScanWaitsForTheWriter puts a file whose writer paused with it
// open in the way of a scan rather than of its own events: copyd starts
// while the file is half written, or the folder holding it is moved into
// the source. The scan must leave it to its writer's close (the pause is
// far longer than settle), not copy the half under its final name.
func TestRunScanWaitsForTheWriter(t *testing.T) {
	t.Parallel()
	half := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	rest := bytes.Repeat([]byte("fedcba9876543210"), 64<<10)
	want := append(bytes.Clone(half), rest...)
	tests := []struct {
		name string
		file string // the written file, relative to the source
		// begin opens the file and writes half of it; then starts copyd
		// or moves the file's folder in. It returns the running daemon.
		begin func(t *testing.T, base, src, dst string) (*os.File, *daemon)
	}{
		{"at start", "video.mp4", func(t *testing.T, base, src, dst string) (*os.File, *daemon) {
			f := createWith(t, filepath.Join(src, "video.mp4"), half)
			time.Sleep(200 * time.Millisecond) // older than settle: the scan's busy check lets it through
			return f, runPaths(t, src, dst)
		}},
		{"folder moved in", "upload/video.mp4", func(t *testing.T, base, src, dst string) (*os.File, *daemon) {
			d := runPaths(t, src, dst)
			d.converge(src, dst)
			mkdir(t, filepath.Join(base, "upload"))
			f := createWith(t, filepath.Join(base, "upload", "video.mp4"), half)
			time.Sleep(200 * time.Millisecond)
			if err := os.Rename(filepath.Join(base, "upload"), filepath.Join(src, "upload")); err != nil {
				t.Fatal(err)
			}
			return f, d
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base, src, dst := dirs(t, map[string]string{"other": "x"})
			partial := watchForPartial(filepath.Join(dst, filepath.FromSlash(tt.file)), want)
			f, d := tt.begin(t, base, src, dst)
			time.Sleep(800 * time.Millisecond) // the writer's pause (settle is 50 ms)
			if _, err := f.Write(rest); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			d.converge(src, dst)
			if seen := partial(); len(seen) > 0 {
				t.Errorf("the destination held an incomplete %s under its name: %v", tt.file, seen[0])
			}
			d.finish(src, dst)
		})
	}
}

// createWith creates path, writes data and leaves it open, as a writer
// in the middle of its file does.
func createWith(t *testing.T, path string, data []byte) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	return f
}

// watchForPartial reads path every 2 ms until the returned function is
// called, which returns what it saw there that was not want.
func watchForPartial(path string, want []byte) func() []string {
	stop := make(chan struct{})
	var seen []string
	var mon sync.WaitGroup
	mon.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if got, err := os.ReadFile(path); err == nil && !bytes.Equal(got, want) {
				seen = append(seen, fmt.Sprintf("%d bytes", len(got)))
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	return func() []string {
		close(stop)
		mon.Wait()
		return seen
	}
}

// TestRunMmapWrite changes a file through a shared mapping, as LMDB and
// SQLite's -shm do: no write event, only the close. The change must
// arrive without a rescan.
func TestRunMmapWrite(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"db": string(bytes.Repeat([]byte{'a'}, 8192))})
	d := runPaths(t, src, dst)
	d.converge(src, dst)
	f, err := os.OpenFile(filepath.Join(src, "db"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	copy(m[4096:], "written through the mapping")
	if err := unix.Msync(m, unix.MS_SYNC); err != nil {
		t.Fatal(err)
	}
	if err := unix.Munmap(m); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	d.finish(src, dst)
}

func exchangeT(t *testing.T, a, b string) {
	t.Helper()
	if err := exchange(a, b); err != nil {
		t.Fatalf("exchange %s and %s: %v", a, b, err)
	}
}

func runProgram(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// TestRunWaitsForAWriterUnderANewName has a writer pause with its file
// open after the file got its name in other ways than by being created
// there (found by the adversarial run): renamed (a log rotated by mv),
// moved in from outside, and made with O_TMPFILE and linked in, whose
// later writes make no event under the name at all. The half must never
// be under the name in the destination, and the whole must arrive.
func TestRunWaitsForAWriterUnderANewName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// start writes the first half through a descriptor it returns,
		// leaving the file under src/name.
		start func(t *testing.T, src, outside, name string, half []byte) *os.File
	}{
		{"renamed while open", func(t *testing.T, src, _, name string, half []byte) *os.File {
			f, err := os.Create(filepath.Join(src, name+".tmp-name"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(half); err != nil {
				t.Fatal(err)
			}
			rename(t, filepath.Join(src, name+".tmp-name"), filepath.Join(src, name))
			return f
		}},
		{"moved in while open", func(t *testing.T, src, outside, name string, half []byte) *os.File {
			f, err := os.Create(filepath.Join(outside, name))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(half); err != nil {
				t.Fatal(err)
			}
			rename(t, filepath.Join(outside, name), filepath.Join(src, name))
			return f
		}},
		{"O_TMPFILE linked in", func(t *testing.T, src, _, name string, half []byte) *os.File {
			fd, err := unix.Open(src, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
			if err != nil {
				t.Skipf("O_TMPFILE: %v", err)
			}
			f := os.NewFile(uintptr(fd), name)
			if _, err := f.Write(half); err != nil {
				t.Fatal(err)
			}
			if err := unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unix.AT_FDCWD, filepath.Join(src, name), unix.AT_SYMLINK_FOLLOW); err != nil {
				t.Fatal(err)
			}
			return f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base, src, dst := dirs(t, map[string]string{"other": "x"})
			outside := filepath.Join(base, "outside")
			mkdir(t, outside)
			d := runPaths(t, src, dst)
			d.converge(src, dst)
			half := bytes.Repeat([]byte("first half. "), 40<<10)
			want := append(bytes.Clone(half), bytes.Repeat([]byte("second half "), 40<<10)...)
			f := tt.start(t, src, outside, "upload", half)
			// Longer than settle (50 ms) many times over; the copy must wait.
			deadline := time.Now().Add(800 * time.Millisecond)
			for time.Now().Before(deadline) {
				if got, err := os.ReadFile(filepath.Join(dst, "upload")); err == nil && !bytes.Equal(got, want) {
					t.Fatalf("the destination holds %d bytes of upload while its writer still writes, want nothing yet", len(got))
				}
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := f.Write(want[len(half):]); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			d.finish(src, dst)
		})
	}
}

// TestRunHardLinkMadeWhileRunning makes a second name of a file while
// copyd runs (ln p q) and writes through the new name: the old name's
// copy must get the write too. It did not (found by the adversarial run):
// copyd knew of q's other name only from scans.
func TestRunHardLinkMadeWhileRunning(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"p": "first"})
	d := runPaths(t, src, dst)
	d.converge(src, dst)
	if err := os.Link(filepath.Join(src, "p"), filepath.Join(src, "q")); err != nil {
		t.Fatal(err)
	}
	d.converge(src, dst)
	f, err := os.OpenFile(filepath.Join(src, "q"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("written through the new name"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	d.finish(src, dst)
}

// TestRunScanRemovesOrphanedTemps: a temp file in a destination folder
// that no copy of the running daemon is writing (one orphaned when its
// folder moved during the copy, whose rename then failed under the old
// path: the churn suite's seed 12) is removed by the next scan of that
// folder, without a restart. Temp files of copies in flight are spared
// (TestScanSparesTempsInFlight in sync/).
func TestRunScanRemovesOrphanedTemps(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"sub/a": "a"})
	d := runPaths(t, src, dst, "--rescan", "1s")
	d.converge(src, dst)
	const tmp = "sub/.a.copyd-0123456789abcdef.tmp"
	write(t, filepath.Join(dst, tmp), "orphaned")
	waitFor(t, 10*time.Second, func() error {
		if _, err := os.Lstat(filepath.Join(dst, tmp)); err == nil {
			return fmt.Errorf("%s still there", tmp)
		}
		return nil
	})
	d.finish(src, dst)
}
