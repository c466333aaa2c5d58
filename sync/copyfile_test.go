//go:build unix

package sync

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// copiers are the implementations of copyFile: the native one of this
// platform and the portable one (the same on platforms without a native one).
var copiers = []struct {
	name string
	copy func(ctx context.Context, src, dst string, o writeOptions) (int64, error)
}{
	{"native", copyFile},
	{"portable", copyFilePortable},
}

func TestCopyFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   map[string]string              // initial tree under a fresh TempDir: name → content
		setup   func(t *testing.T, dir string) // more of the initial tree
		o       writeOptions
		want    string // content of dst afterwards
		wantN   int64
		wantErr error // matched with errors.Is
	}{
		{name: "new file", files: map[string]string{"src": "hello"}, want: "hello", wantN: 5},
		{name: "new file with fsync", files: map[string]string{"src": "hello"}, o: writeOptions{fsync: true}, want: "hello", wantN: 5},
		{name: "empty file", files: map[string]string{"src": ""}, want: ""},
		{name: "replaces old copy", files: map[string]string{"src": "new", "dst": "old copy"}, want: "new", wantN: 3},
		{name: "missing source keeps old copy", files: map[string]string{"dst": "keep"}, want: "keep", wantErr: ErrSourceGone},
		{
			name:  "source is a symlink",
			files: map[string]string{"real": "data", "dst": "keep"},
			setup: func(t *testing.T, dir string) { symlink(t, "real", filepath.Join(dir, "src")) },
			want:  "keep", wantErr: ErrSourceChanged,
		},
		{
			name:  "source is a folder",
			files: map[string]string{"src/x": "data", "dst": "keep"},
			want:  "keep", wantErr: ErrSourceChanged,
		},
		{
			name:  "replace hook",
			files: map[string]string{"src": "new", "dst": "old"},
			o:     writeOptions{replace: func() error { return nil }},
			want:  "new", wantN: 3,
		},
		{
			name:  "replace hook error keeps old copy",
			files: map[string]string{"src": "new", "dst": "old"},
			o:     writeOptions{replace: func() error { return ErrTypeConflict }},
			want:  "old", wantErr: ErrTypeConflict,
		},
	}
	for _, c := range copiers {
		for _, tt := range tests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				writeTree(t, dir, tt.files)
				if tt.setup != nil {
					tt.setup(t, dir)
				}
				n, err := c.copy(t.Context(), filepath.Join(dir, "src"), filepath.Join(dir, "dst"), tt.o)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("copyFile() error = %v, want %v", err, tt.wantErr)
				}
				if err == nil && n != tt.wantN {
					t.Errorf("copyFile() = %d bytes, want %d", n, tt.wantN)
				}
				if got := readFile(t, filepath.Join(dir, "dst")); got != tt.want {
					t.Errorf("dst = %q, want %q", got, tt.want)
				}
				assertNoTemps(t, dir) // no temp file survives, success or failure
			})
		}
	}
}

// TestCopyFileKeepsModeAndTime checks that the copy has the source's
// permission bits (umask ignored) and modification time.
func TestCopyFileKeepsModeAndTime(t *testing.T) {
	t.Parallel()
	modes := []fs.FileMode{0o600, 0o640, 0o755, 0o777, 0o444, 0o000}
	for _, c := range copiers {
		for _, mode := range modes {
			t.Run(c.name+"/"+mode.String(), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
				mtime := time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC)
				writeFile(t, src, "data", mode, mtime)
				writeFile(t, dst, "old", 0o644, baseTime)
				if _, err := c.copy(t.Context(), src, dst, writeOptions{}); err != nil {
					t.Fatalf("copyFile() error = %v", err)
				}
				fi := lstat(t, dst)
				if fi.Mode() != mode {
					t.Errorf("dst mode = %v, want %v", fi.Mode(), mode)
				}
				if !fi.ModTime().Equal(mtime) {
					t.Errorf("dst mtime = %v, want %v", fi.ModTime(), mtime)
				}
				assertNoTemps(t, dir)
			})
		}
	}
}

// TestCopyFileDestinationNotFollowed checks that a destination symlink (to
// a file or a folder outside the tree) is replaced, never written through.
func TestCopyFileDestinationNotFollowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string // what dst points at, relative to outside/
	}{
		{"symlink to a file outside", "secret.txt"},
		{"symlink to a folder outside", "folder"},
		{"dangling symlink", "nothing-here"},
	}
	for _, c := range copiers {
		for _, tt := range tests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				tree, outside := t.TempDir(), t.TempDir()
				writeTree(t, tree, map[string]string{"src": "new content"})
				writeTree(t, outside, map[string]string{"secret.txt": "untouched", "folder/x": "untouched"})
				before := listTree(t, outside)
				dst := filepath.Join(tree, "dst")
				symlink(t, filepath.Join(outside, tt.target), dst)

				if _, err := c.copy(t.Context(), filepath.Join(tree, "src"), dst, writeOptions{}); err != nil {
					t.Fatalf("copyFile() error = %v", err)
				}
				if fi := lstat(t, dst); !fi.Mode().IsRegular() {
					t.Errorf("dst is %v, want a regular file", fi.Mode())
				}
				assertContent(t, dst, "new content")
				assertUnchanged(t, before, outside)
				assertMissing(t, filepath.Join(outside, "nothing-here"))
				assertNoTemps(t, tree)
			})
		}
	}
}

func TestCopyFileIntoFolderFails(t *testing.T) {
	t.Parallel()
	for _, c := range copiers {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"src": "data", "dst/inside": "keep"})
			_, err := c.copy(t.Context(), filepath.Join(dir, "src"), filepath.Join(dir, "dst"), writeOptions{})
			if err == nil {
				t.Fatal("copyFile() over a folder succeeded, want an error")
			}
			assertContent(t, filepath.Join(dir, "dst", "inside"), "keep")
			assertNoTemps(t, dir)
		})
	}
}

func TestCopyFileCancelled(t *testing.T) {
	t.Parallel()
	for _, c := range copiers {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"src": "data", "dst": "old"})
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := c.copy(ctx, filepath.Join(dir, "src"), filepath.Join(dir, "dst"), writeOptions{})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("copyFile() error = %v, want %v", err, context.Canceled)
			}
			assertContent(t, filepath.Join(dir, "dst"), "old")
			assertNoTemps(t, dir)
		})
	}
}

// TestCopyFileSourceIsFIFO: a regular file replaced by a FIFO between the
// scan and the copy must be refused, not opened: opening a FIFO for
// reading blocks until a writer comes, which would hang a worker for good.
func TestCopyFileSourceIsFIFO(t *testing.T) {
	t.Parallel()
	for _, c := range copiers {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			if err := syscall.Mkfifo(src, 0o644); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := c.copy(context.Background(), src, dst, writeOptions{})
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				// Unblock the hung open so the goroutine ends with the test.
				if w, werr := os.OpenFile(src, os.O_WRONLY|syscall.O_NONBLOCK, 0); werr == nil {
					w.Close()
				}
				<-done
				t.Fatal("copyFile() of a FIFO blocked until a writer opened it, want ErrSourceChanged at once")
			}
			if !errors.Is(err, ErrSourceChanged) {
				t.Errorf("copyFile() error = %v, want %v", err, ErrSourceChanged)
			}
			assertMissing(t, dst)
			assertNoTemps(t, dir)
		})
	}
}

// TestUnchangedSince changes the source between the stat taken before a
// copy and the check after it.
func TestUnchangedSince(t *testing.T) {
	t.Parallel()
	for _, tt := range sourceChanges {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "src")
			writeFile(t, path, "0123456789", 0o644, baseTime)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			before, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			tt.change(t, path)
			if err := unchangedSince(path, f, before); !errors.Is(err, tt.wantErr) {
				t.Errorf("unchangedSince() error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// sourceChanges are the ways a source file changes while it is copied.
var sourceChanges = []struct {
	name    string
	change  func(t *testing.T, path string)
	wantErr error
}{
	{"unchanged", func(*testing.T, string) {}, nil},
	{"read only", func(t *testing.T, path string) { readFile(t, path) }, nil},
	{"rewritten, same size", func(t *testing.T, path string) {
		if err := os.WriteFile(path, []byte("abcdefghij"), 0o644); err != nil {
			t.Fatal(err)
		}
	}, ErrSourceChanged},
	{"appended", func(t *testing.T, path string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString("more"); err != nil {
			t.Fatal(err)
		}
	}, ErrSourceChanged},
	{"truncated", func(t *testing.T, path string) {
		if err := os.Truncate(path, 3); err != nil {
			t.Fatal(err)
		}
	}, ErrSourceChanged},
	{"touched", func(t *testing.T, path string) { setMtime(t, path, baseTime.Add(time.Second)) }, ErrSourceChanged},
	{"touched by a nanosecond", func(t *testing.T, path string) { setMtime(t, path, baseTime.Add(time.Nanosecond)) }, ErrSourceChanged},
	{"replaced by rename, same size and time", func(t *testing.T, path string) {
		writeFile(t, path+".new", "0123456789", 0o644, baseTime)
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}, ErrSourceChanged},
	{"replaced by a symlink", func(t *testing.T, path string) {
		removeAll(t, path)
		symlink(t, "elsewhere", path)
	}, ErrSourceChanged},
	{"removed", func(t *testing.T, path string) { removeAll(t, path) }, ErrSourceGone},
}

func TestCopySymlink(t *testing.T) {
	t.Parallel()
	linkTime := time.Date(2003, 4, 5, 6, 7, 8, 9000, time.UTC)
	tests := []struct {
		name    string
		target  string                         // of src; "" means src does not exist
		setup   func(t *testing.T, dir string) // what dst holds before
		wantErr error
	}{
		{name: "new relative", target: "a/b"},
		{name: "new absolute", target: "/etc/passwd"},
		{name: "new dangling", target: "does/not/exist"},
		{name: "target with a newline", target: "a\nb"},
		{name: "loop", target: "src"},
		{name: "replaces a file", target: "x", setup: func(t *testing.T, dir string) {
			writeTree(t, dir, map[string]string{"dst": "old"})
		}},
		{name: "replaces a symlink to a folder", target: "x", setup: func(t *testing.T, dir string) {
			writeTree(t, dir, map[string]string{"folder/keep": "keep"})
			symlink(t, "folder", filepath.Join(dir, "dst"))
		}},
		{name: "source gone", setup: func(t *testing.T, dir string) {
			writeTree(t, dir, map[string]string{"dst": "old"})
		}, wantErr: ErrSourceGone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			before := listTree(t, dir)
			if tt.target != "" {
				symlink(t, tt.target, src)
				if err := setLinkTime(src, linkTime); err != nil {
					t.Fatal(err)
				}
			}
			err := copySymlink(src, dst, writeOptions{})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("copySymlink() error = %v, want %v", err, tt.wantErr)
			}
			assertNoTemps(t, dir)
			if err != nil {
				delete(before, "src")
				assertUnchanged(t, before, dir)
				return
			}
			got, err := os.Readlink(dst)
			if err != nil {
				t.Fatalf("dst is not a symlink: %v", err)
			}
			if got != tt.target {
				t.Errorf("dst -> %q, want %q", got, tt.target)
			}
			if mt := lstat(t, dst).ModTime(); !mt.Equal(linkTime) {
				t.Errorf("dst's own mtime = %v, want %v", mt, linkTime)
			}
			if _, err := os.Lstat(filepath.Join(dir, "folder")); err == nil {
				assertContent(t, filepath.Join(dir, "folder", "keep"), "keep")
			}
		})
	}
}
