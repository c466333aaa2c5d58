//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/internal/treetest"
)

// End-to-end tests of `copyd run`, the watch daemon. Each test starts the
// real binary with JSON logs, waits for its "watching" line, changes the
// source and polls until the destination matches (treetest.Compare), then
// stops it with a signal and checks the invariants: exit 0, a "stopped"
// line, trees equal, no temp file. Claims that something did not happen use
// a sentinel file as a barrier, never a pause.

func TestRunCreate(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"old.txt": "old", "sub/old.txt": "old too"})
	d := runPaths(t, src, dst)
	d.converge(src, dst) // the initial copy
	writeTree(t, src, map[string]string{
		"new.txt":        "new",
		"sub/new.txt":    "new in an existing folder",
		"newdir/a/b.txt": "new folders",
		"empty":          "",
		"python教学视频/第01讲 多进程.mp4": "lesson",
	})
	if err := os.Symlink("new.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	d.converge(src, dst)
	d.stopOK(syscall.SIGINT)
	treetest.AssertTreesEqual(t, src, dst)
	assertNoTemps(t, dst)
}

func TestRunModifySameSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		mtime func(before time.Time) time.Time // the mtime the rewrite ends with
	}{
		// The rewrite may land in the same kernel clock tick as the
		// original; an explicit later mtime makes the change visible to a
		// size-and-mtime comparison too, which this case is not about.
		{"new mtime", func(before time.Time) time.Time { return before.Add(time.Second) }},
		// Same size and the old mtime restored (as cp -p, tar -x or touch
		// -r do): only the change event tells copyd the content changed.
		{"mtime restored", func(before time.Time) time.Time { return before }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, src, dst := dirs(t, map[string]string{"f.txt": "aaaa"})
			d := runPaths(t, src, dst)
			d.converge(src, dst)
			p := filepath.Join(src, "f.txt")
			before, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			write(t, p, "bbbb")
			mtime := tt.mtime(before.ModTime())
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			d.finish(src, dst)
		})
	}
}

func TestRunAppend(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"log.txt": "line 1\n"})
	d := runPaths(t, src, dst)
	d.converge(src, dst)
	for i := 2; i <= 4; i++ {
		f, err := os.OpenFile(filepath.Join(src, "log.txt"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "line %d\n", i)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		d.converge(src, dst)
	}
	d.finish(src, dst)
}

func TestRunTruncate(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{
		"shorter": strings.Repeat("0123456789", 6554),
		"to-zero": "something",
	})
	d := runPaths(t, src, dst)
	d.converge(src, dst)
	if err := os.Truncate(filepath.Join(src, "shorter"), 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(src, "to-zero"), 0); err != nil {
		t.Fatal(err)
	}
	d.finish(src, dst)
}

func TestRunRenameInside(t *testing.T) {
	t.Parallel()
	tree := map[string]string{
		"a.txt":         "a",
		"dir/x.txt":     "x",
		"dir/sub/y.txt": "y",
		"other/z.txt":   "z",
	}
	renames := func(t *testing.T, src string) {
		rename(t, filepath.Join(src, "a.txt"), filepath.Join(src, "b.txt"))
		rename(t, filepath.Join(src, "dir"), filepath.Join(src, "dir2"))
		rename(t, filepath.Join(src, "other/z.txt"), filepath.Join(src, "z-moved.txt"))
	}
	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		_, src, dst := dirs(t, tree)
		d := runPaths(t, src, dst, "--delete")
		d.converge(src, dst)
		renames(t, src)
		d.finish(src, dst) // the old names are gone
	})
	t.Run("no delete", func(t *testing.T) {
		t.Parallel()
		_, src, dst := dirs(t, tree)
		d := runPaths(t, src, dst)
		d.converge(src, dst)
		renames(t, src)
		old := []string{"a.txt", "dir", "other/z.txt"}
		d.finish(src, dst, old...)
		for _, rel := range []string{"a.txt", "dir/x.txt", "dir/sub/y.txt", "other/z.txt"} {
			assertContent(t, filepath.Join(dst, rel), tree[rel])
		}
	})
}

func TestRunMoveTreeIn(t *testing.T) {
	t.Parallel()
	base, src, dst := dirs(t, map[string]string{"keep.txt": "keep"})
	outside := filepath.Join(base, "outside")
	writeTree(t, outside, map[string]string{
		"tree/a.txt":         "a",
		"tree/b/c.txt":       "c",
		"tree/b/d/e/f.txt":   "f",
		"tree/b/d/e/g/h.bin": strings.Repeat("h", 100_000),
		"tree/empty/.keep":   "",
	})
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(outside, "tree/a.txt"), old, old); err != nil {
		t.Fatal(err)
	}
	d := runPaths(t, src, dst)
	d.converge(src, dst)
	rename(t, filepath.Join(outside, "tree"), filepath.Join(src, "tree"))
	d.finish(src, dst)
}

func TestRunMoveTreeOut(t *testing.T) {
	t.Parallel()
	tree := map[string]string{
		"keep.txt":       "keep",
		"tree/a.txt":     "a",
		"tree/b/c.txt":   "c",
		"tree/b/d/e.txt": "e",
	}
	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		base, src, dst := dirs(t, tree)
		d := runPaths(t, src, dst, "--delete")
		d.converge(src, dst)
		rename(t, filepath.Join(src, "tree"), filepath.Join(base, "tree"))
		d.finish(src, dst)
		assertAbsent(t, filepath.Join(dst, "tree"))
	})
	t.Run("no delete", func(t *testing.T) {
		t.Parallel()
		base, src, dst := dirs(t, tree)
		d := runPaths(t, src, dst)
		d.converge(src, dst)
		rename(t, filepath.Join(src, "tree"), filepath.Join(base, "tree"))
		write(t, filepath.Join(src, "sentinel"), "after the move")
		d.finish(src, dst, "tree")
		// The root's mtime is left out: whether moving a folder to another
		// parent touches it depends on the filesystem.
		treetest.AssertTreesEqual(t, filepath.Join(base, "tree"), filepath.Join(dst, "tree"), ".")
	})
}

func TestRunMkdirDeep(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, nil)
	d := runPaths(t, src, dst)
	d.converge(src, dst)
	deep := src
	for i := range 20 {
		deep = filepath.Join(deep, fmt.Sprintf("level%02d", i))
	}
	mkdir(t, deep)
	write(t, filepath.Join(deep, "bottom.txt"), "at the bottom")
	d.finish(src, dst)
}

func TestRunRmdir(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{
		"keep.txt":       "keep",
		"full/a.txt":     "a",
		"full/b/c/d.txt": "d",
	})
	mkdir(t, filepath.Join(src, "empty"))
	d := runPaths(t, src, dst, "--delete")
	d.converge(src, dst)
	if err := os.Remove(filepath.Join(src, "empty")); err != nil {
		t.Fatal(err)
	}
	remove(t, filepath.Join(src, "full"))
	d.finish(src, dst)
}

func TestRunChmod(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"f.txt": "f", "x.sh": "#!/bin/sh\n", "dir/g.txt": "g"})
	d := runPaths(t, src, dst)
	d.converge(src, dst)
	chmod(t, filepath.Join(src, "f.txt"), 0o600)
	chmod(t, filepath.Join(src, "x.sh"), 0o755)
	chmod(t, filepath.Join(src, "dir"), 0o700)
	d.finish(src, dst)
}

func TestRunBurstOf10000Files(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"d00/existing.txt": "x"})
	d := runPaths(t, src, dst)
	d.converge(src, dst)
	// Files are spread over 20 folders, most of them created during the
	// burst, so new folders must be watched while files land in them.
	for i := range 10_000 {
		dir := filepath.Join(src, fmt.Sprintf("d%02d", i%20))
		if i < 20 {
			mkdir(t, dir)
		}
		content := strings.Repeat(fmt.Sprintf("file %d\n", i), i%50)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.txt", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d.waitFor(time.Minute, func() error { return treetest.Compare(src, dst) })
	d.finish(src, dst)
}

// chunk is part i of the slowly written file: 4 KiB (one page, so that a
// reader never sees half of one write) of a pattern naming i.
func chunk(i int) []byte {
	return bytes.Repeat(fmt.Appendf(nil, "%04d", i), 1024)
}

// checkChunks returns an error unless b is chunks 0..k-1 for some k.
func checkChunks(b []byte) error {
	const size = 4096
	if len(b)%size != 0 {
		return fmt.Errorf("%d bytes, not a whole number of %d-byte chunks", len(b), size)
	}
	for i := 0; i*size < len(b); i++ {
		if !bytes.Equal(b[i*size:(i+1)*size], chunk(i)) {
			return fmt.Errorf("chunk %d of %d does not match what was written", i, len(b)/size)
		}
	}
	return nil
}

func TestRunSlowWriterNeverPartial(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"other.txt": "o"})
	// max_delay forces copies while the file is still growing.
	d := runPaths(t, src, dst, "--max-delay", "200ms")
	d.converge(src, dst)

	const chunks = 40
	p, q := filepath.Join(src, "slow.bin"), filepath.Join(dst, "slow.bin")
	writeErr := make(chan error, 1)
	quit := make(chan struct{}) // closed when the test ends early
	var wg sync.WaitGroup
	t.Cleanup(func() { close(quit); wg.Wait() })
	wg.Go(func() {
		f, err := os.Create(p)
		if err != nil {
			writeErr <- err
			return
		}
		defer f.Close()
		for i := range chunks {
			if _, err := f.Write(chunk(i)); err != nil {
				writeErr <- err
				return
			}
			select {
			case <-time.After(50 * time.Millisecond): // the workload: a slow writer
			case <-quit:
				return
			}
		}
		writeErr <- f.Close()
	})

	seen := map[int]bool{} // lengths observed in dst
	check := func() {
		b, err := os.ReadFile(q)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := checkChunks(b); err != nil {
			t.Fatalf("destination holds a state the source never had: %v", err)
		}
		seen[len(b)] = true
	}
	var werr error
	d.waitFor(time.Minute, func() error {
		check()
		select {
		case werr = <-writeErr:
			return nil
		default:
			return errors.New("writer still writing")
		}
	})
	if werr != nil {
		t.Fatal(werr)
	}
	d.waitFor(converged, func() error {
		check()
		return treetest.Compare(src, dst)
	})
	t.Logf("observed %d distinct versions of the growing file in the destination", len(seen))
	d.finish(src, dst)
}

func TestRunOverflowRescan(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{
		"keep.txt":    "keep",
		"mod.txt":     "before",
		"del.txt":     "delete me",
		"dir/ren.txt": "rename me",
	})
	d := startRun(t, []string{"COPYD_TEST_OVERFLOW=OVERFLOW"},
		"--log-format", "json", "--settle", "50ms", "--delete", src, dst)
	d.waitWatching("src")
	d.converge(src, dst)
	since := d.mark()
	// inotify delivers events in order, so every change below comes after
	// the event that starts the drop.
	write(t, filepath.Join(src, "OVERFLOW"), "")
	write(t, filepath.Join(src, "new.txt"), "new")
	write(t, filepath.Join(src, "mod.txt"), "after, and longer")
	remove(t, filepath.Join(src, "del.txt"))
	rename(t, filepath.Join(src, "dir/ren.txt"), filepath.Join(src, "dir/renamed.txt"))
	write(t, filepath.Join(src, "newdir/sub/deep.txt"), "deep")
	chmod(t, filepath.Join(src, "keep.txt"), 0o600)
	remove(t, filepath.Join(src, "OVERFLOW"))
	d.waitLog(since, match{level: "WARN", msg: "events lost, rescanning"})
	d.finish(src, dst)
}

func TestRunChangesWhileStopped(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{
		"keep.txt":    "keep",
		"mod.txt":     "before",
		"del.txt":     "delete me",
		"dir/ren.txt": "rename me",
		"mode.txt":    "mode",
	})
	d := runPaths(t, src, dst, "--delete")
	d.finish(src, dst)

	write(t, filepath.Join(src, "new.txt"), "new")
	write(t, filepath.Join(src, "mod.txt"), "after, and longer")
	remove(t, filepath.Join(src, "del.txt"))
	rename(t, filepath.Join(src, "dir/ren.txt"), filepath.Join(src, "dir/renamed.txt"))
	write(t, filepath.Join(src, "newdir/sub/deep.txt"), "deep")
	chmod(t, filepath.Join(src, "mode.txt"), 0o600)

	d = runPaths(t, src, dst, "--delete")
	d.finish(src, dst)
}

// writeConfig writes a config for pairs to path, with JSON logs, a short
// settle time and no status endpoint (tests run in parallel).
func writeConfig(t *testing.T, path string, pairs string) {
	t.Helper()
	cfg := "settle: 50ms\nlog:\n  format: json\nstatus:\n  listen: \"\"\npairs:\n" + pairs
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pairYAML is one item of pairs:, with extra lines (indented by 4) after
// source and destination.
func pairYAML(name, src, dst string, extra ...string) string {
	s := fmt.Sprintf("  - name: %s\n    source: %q\n    destination: %q\n", name, src, dst)
	for _, e := range extra {
		s += "    " + e + "\n"
	}
	return s
}

func TestRunSIGHUPReload(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	aSrc, aDst := filepath.Join(base, "a-src"), filepath.Join(base, "a-dst")
	bSrc, bDst := filepath.Join(base, "b-src"), filepath.Join(base, "b-dst")
	writeTree(t, aSrc, map[string]string{"a1.txt": "a1"})
	writeTree(t, bSrc, map[string]string{"b1.txt": "b1", "b2.txt": "b2"})
	cfg := filepath.Join(base, "config.yaml")
	writeConfig(t, cfg, pairYAML("a", aSrc, aDst))
	d := startRun(t, nil, "-c", cfg)
	d.waitWatching("a")
	d.converge(aSrc, aDst)

	// An added pair starts.
	writeConfig(t, cfg, pairYAML("a", aSrc, aDst)+pairYAML("b", bSrc, bDst))
	since := d.mark()
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(since, match{level: "INFO", msg: "config reloaded"})
	d.waitWatchingSince(since, "b")
	d.converge(bSrc, bDst)
	write(t, filepath.Join(aSrc, "a2.txt"), "a2")
	write(t, filepath.Join(bSrc, "b3.txt"), "b3")
	d.converge(aSrc, aDst)
	d.converge(bSrc, bDst)

	// A changed pair restarts with its new settings: b now mirrors deletions.
	writeConfig(t, cfg, pairYAML("a", aSrc, aDst)+pairYAML("b", bSrc, bDst, "delete: true"))
	since = d.mark()
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(since, match{level: "INFO", msg: "config reloaded"})
	d.waitWatchingSince(since, "b")
	remove(t, filepath.Join(bSrc, "b1.txt"))
	d.converge(bSrc, bDst)

	// A removed pair stops: a's next change is not copied. Pair b is the
	// barrier: its change, made after a's, arrives. (copyd also logs
	// "config reloaded" only once removed pairs have stopped.)
	writeConfig(t, cfg, pairYAML("b", bSrc, bDst, "delete: true"))
	since = d.mark()
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(since, match{level: "INFO", msg: "config reloaded"})
	write(t, filepath.Join(aSrc, "after-removal.txt"), "not copied")
	write(t, filepath.Join(bSrc, "sentinel"), "barrier")
	d.finish(bSrc, bDst)
	assertAbsent(t, filepath.Join(aDst, "after-removal.txt"))
	assertNoTemps(t, aDst)
}

func TestRunSIGHUPBadConfig(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	writeTree(t, src, map[string]string{"a.txt": "a"})
	cfg := filepath.Join(base, "config.yaml")
	good := pairYAML("a", src, dst)
	writeConfig(t, cfg, good)
	d := startRun(t, nil, "-c", cfg)
	d.waitWatching("a")
	d.converge(src, dst)

	// The header writeConfig adds is 6 lines, so the pair starts on line 7.
	bad := []struct {
		name  string
		pairs string
		want  *regexp.Regexp // matches the err attribute
	}{
		{"typo", "  - name: a\n    source: " + strconv.Quote(src) + "\n    destinaton: " + strconv.Quote(dst) + "\n",
			regexp.MustCompile(`config\.yaml:9\b`)},
		{"destination inside source", pairYAML("a", src, filepath.Join(src, "backup")),
			regexp.MustCompile(`config\.yaml:\d+\b`)},
	}
	for i, tt := range bad {
		writeConfig(t, cfg, tt.pairs)
		since := d.mark()
		d.cmd.Process.Signal(syscall.SIGHUP)
		l := d.waitLog(since, match{level: "ERROR", msg: "config not reloaded"})
		if err := l.get("err"); !tt.want.MatchString(err) {
			t.Errorf("%s: err = %q, want it to name the file and line (%v)", tt.name, err, tt.want)
		}
		// The old pair keeps working.
		write(t, filepath.Join(src, fmt.Sprintf("after-bad-%d.txt", i)), tt.name)
		d.converge(src, dst)
	}

	writeConfig(t, cfg, good)
	since := d.mark()
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(since, match{level: "INFO", msg: "config reloaded"})
	write(t, filepath.Join(src, "after-good.txt"), "good")
	d.finish(src, dst)
}

// bigFile describes a large file of non-zero data: one random MiB per
// seed, each copy stamped with its index, so that no two MiB are alike and
// a file can be checked against the description without keeping a copy.
type bigFile struct {
	size  int    // a multiple of 1 MiB
	block []byte // the random MiB
}

func newBigFile(size int, seed byte) bigFile {
	f := bigFile{size, make([]byte, 1<<20)}
	rand.NewChaCha8([32]byte{seed}).Read(f.block)
	return f
}

// mib returns MiB number i of f in buf.
func (f bigFile) mib(buf []byte, i int) {
	copy(buf, f.block)
	binary.LittleEndian.PutUint64(buf, uint64(i))
}

func (f bigFile) write(t *testing.T, p string) {
	t.Helper()
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	buf := make([]byte, 1<<20)
	for i := range f.size >> 20 {
		f.mib(buf, i)
		if _, err := out.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// check returns nil if p holds exactly f.
func (f bigFile) check(p string) error {
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	r := bufio.NewReaderSize(in, 1<<20)
	want, got := make([]byte, 1<<20), make([]byte, 1<<20)
	for i := range f.size >> 20 {
		f.mib(want, i)
		if _, err := io.ReadFull(r, got); err != nil {
			return fmt.Errorf("%s: %d MiB, want %d", p, i, f.size>>20)
		}
		if !bytes.Equal(want, got) {
			return fmt.Errorf("%s: MiB %d differs", p, i)
		}
	}
	if n, _ := r.Read(got); n > 0 {
		return fmt.Errorf("%s: longer than %d MiB", p, f.size>>20)
	}
	return nil
}

// waitCopying waits until a copy into dst has a temp file (true), or the
// names are all in dst already, their copies done before a look (false:
// still a valid run, with nothing under way).
func (d *daemon) waitCopying(src, dst string, names []string) (midCopy bool) {
	d.t.Helper()
	d.waitFor(time.Minute, func() error {
		temps, err := treetest.Temps(dst)
		if err != nil {
			return err
		}
		if len(temps) > 0 {
			midCopy = true
			return nil
		}
		return sameStat(src, dst, names)
	})
	return midCopy
}

// sameStat returns nil if each of names has the same size, mtime and mode
// in src and dst: a cheap test to poll before comparing contents once.
func sameStat(src, dst string, names []string) error {
	for _, name := range names {
		s, err1 := os.Stat(filepath.Join(src, name))
		c, err2 := os.Stat(filepath.Join(dst, name))
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if s.Size() != c.Size() || !s.ModTime().Equal(c.ModTime()) || s.Mode() != c.Mode() {
			return fmt.Errorf("%s: not copied yet", name)
		}
	}
	return nil
}

func TestRunSIGTERMMidCopy(t *testing.T) {
	t.Parallel()
	base, src, dst := dirs(t, map[string]string{"small.txt": "s"})
	const size = 300 << 20
	names := []string{"big1.bin", "big2.bin", "big3.bin"}
	old, cur := make([]bigFile, len(names)), make([]bigFile, len(names))
	for i, name := range names {
		old[i], cur[i] = newBigFile(size, byte(i+1)), newBigFile(size, byte(i+11))
		old[i].write(t, filepath.Join(src, name))
	}
	d := runPaths(t, src, dst)
	// Contents are compared once, after polling on size and mtime:
	// treetest.Compare would read 1.8 GB on every poll.
	d.waitFor(2*time.Minute, func() error { return sameStat(src, dst, names) })

	// New versions are written outside and moved over the old ones, so
	// that copyd sees each complete at once and replaces its copy through
	// a named temp file (new files go through unnamed O_TMPFILE files,
	// which no one can see).
	for i, name := range names {
		cur[i].write(t, filepath.Join(base, name))
	}
	for _, name := range names {
		rename(t, filepath.Join(base, name), filepath.Join(src, name))
	}
	midCopy := d.waitCopying(src, dst, names)
	t.Logf("SIGTERM with a copy under way: %v", midCopy)
	d.stopOK(syscall.SIGTERM)
	assertNoTemps(t, dst)
	for i, name := range names {
		p := filepath.Join(dst, name)
		if errOld, errCur := old[i].check(p), cur[i].check(p); errOld != nil && errCur != nil {
			t.Errorf("after SIGTERM %s is neither the old version (%v) nor the new one (%v)", name, errOld, errCur)
		}
	}

	// A new daemon finishes the job.
	d = runPaths(t, src, dst)
	d.waitFor(2*time.Minute, func() error { return sameStat(src, dst, names) })
	d.stopOK(syscall.SIGTERM)
	assertNoTemps(t, dst)
	for i, name := range names {
		if err := cur[i].check(filepath.Join(dst, name)); err != nil {
			t.Error(err)
		}
	}
	treetest.AssertTreesEqual(t, src, dst, names...)
}

func TestRunTwoPairs(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	docsSrc, docsDst := filepath.Join(base, "docs"), filepath.Join(base, "backup/docs")
	mediaSrc, mediaDst := filepath.Join(base, "media"), filepath.Join(base, "backup/media")
	writeTree(t, docsSrc, map[string]string{"a.txt": "a", "old.txt": "old"})
	writeTree(t, mediaSrc, map[string]string{"m.mp4": "m", "old.mp4": "old"})
	cfg := filepath.Join(base, "config.yaml")
	writeConfig(t, cfg,
		pairYAML("docs", docsSrc, docsDst, "delete: true", `exclude: ["*.log", "cache/"]`)+
			pairYAML("media", mediaSrc, mediaDst))
	d := startRun(t, nil, "-c", cfg)
	d.waitWatching("docs")
	d.waitWatching("media")
	d.converge(docsSrc, docsDst)
	d.converge(mediaSrc, mediaDst)

	write(t, filepath.Join(docsSrc, "new.txt"), "new")
	remove(t, filepath.Join(docsSrc, "old.txt"))
	write(t, filepath.Join(docsSrc, "x.log"), "excluded")
	write(t, filepath.Join(docsSrc, "cache/c.txt"), "excluded")
	write(t, filepath.Join(mediaSrc, "new.mp4"), "new")
	remove(t, filepath.Join(mediaSrc, "old.mp4"))
	// Sentinels written last: once they arrive, the changes above have
	// been handled.
	write(t, filepath.Join(docsSrc, "sentinel"), "barrier")
	write(t, filepath.Join(mediaSrc, "sentinel"), "barrier")
	d.converge(docsSrc, docsDst, "x.log", "cache")
	d.converge(mediaSrc, mediaDst, "old.mp4")
	assertAbsent(t, filepath.Join(docsDst, "x.log"))
	assertAbsent(t, filepath.Join(docsDst, "cache"))
	assertAbsent(t, filepath.Join(docsDst, "old.txt"))
	assertContent(t, filepath.Join(mediaDst, "old.mp4"), "old")

	d.stopOK(syscall.SIGTERM)
	treetest.AssertTreesEqual(t, docsSrc, docsDst, "x.log", "cache")
	treetest.AssertTreesEqual(t, mediaSrc, mediaDst, "old.mp4")
	assertNoTemps(t, filepath.Join(base, "backup"))
}

func TestRunMissingSourceRoot(t *testing.T) {
	t.Parallel()
	base, src, dst := dirs(t, map[string]string{
		"keep.txt":  "keep",
		"mod.txt":   "before",
		"del.txt":   "delete me",
		"dir/a.txt": "a",
	})
	d, before := runMirrored(t, src, dst)

	away := filepath.Join(base, "away")
	rename(t, src, away)
	d.waitLog(0, match{text: []string{"deleting nothing", "waiting for source"}})
	treetest.AssertUnchanged(t, before, dst)

	write(t, filepath.Join(away, "new.txt"), "made while away")
	write(t, filepath.Join(away, "mod.txt"), "after, and longer")
	remove(t, filepath.Join(away, "del.txt"))
	rename(t, away, src)
	d.finish(src, dst)
}

func TestRunEmptiedSourceDeletesNothing(t *testing.T) {
	t.Parallel()
	tree := map[string]string{"data/a.txt": "a", "data/b/c.txt": "c"}
	base, src, dst := dirs(t, tree)
	d, before := runMirrored(t, src, dst)

	// One rename empties the source at once; removing the files one by one
	// would let copyd see a source that is merely shrinking.
	rename(t, filepath.Join(src, "data"), filepath.Join(base, "gone"))
	d.waitLog(0, match{level: "ERROR", text: []string{"deleting nothing"}})
	treetest.AssertUnchanged(t, before, dst)

	writeTree(t, src, tree)
	d.finish(src, dst)
}

// TestRunExcludedOnlySourceDeletesNothing: a source root emptied down to
// excluded entries while the daemon runs (a swap file left in the folder
// a disk was mounted on) deletes nothing, as an empty one does.
func TestRunExcludedOnlySourceDeletesNothing(t *testing.T) {
	t.Parallel()
	tree := map[string]string{"data/a.txt": "a", "data/b/c.txt": "c"}
	base, src, dst := dirs(t, tree)
	d := runPaths(t, src, dst, "--delete", "--exclude", "*.swp", "--exclude", "cache/")
	d.converge(src, dst)
	before := treetest.List(t, dst)
	delete(before, ".")

	write(t, filepath.Join(src, ".x.swp"), "stray")
	write(t, filepath.Join(src, "cache/c"), "stray")
	// One rename empties the source at once; removing the files one by one
	// would let copyd see a source that is merely shrinking.
	rename(t, filepath.Join(src, "data"), filepath.Join(base, "gone"))
	d.waitLog(0, match{level: "ERROR", text: []string{"deleting nothing: the source folder is empty but for excluded entries"}})
	treetest.AssertUnchanged(t, before, dst)

	writeTree(t, src, tree)
	d.finish(src, dst, ".x.swp", "cache")
}

func TestRunRescanRepairsDrift(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"a.txt": "a", "b.txt": "b", "dir/c.txt": "c"})
	d := runPaths(t, src, dst, "--delete", "--rescan", "1s")
	d.converge(src, dst)
	write(t, filepath.Join(dst, "a.txt"), "changed by hand")
	remove(t, filepath.Join(dst, "b.txt"))
	write(t, filepath.Join(dst, "dir/extra.txt"), "not in the source")
	d.finish(src, dst)
}

// runQuick runs copyd with args and a deadline short enough to catch a
// daemon that starts when it should have refused to.
func runQuick(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	r := runCommand(t, exec.CommandContext(ctx, copydBin, args...), args)
	if ctx.Err() != nil {
		t.Fatalf("copyd %q still running after 20 s; want it to refuse to start\nstderr:\n%s", args, r.stderr)
	}
	return r
}

func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	mkdir(t, src)
	typo := filepath.Join(base, "config.yaml")
	writeConfig(t, typo, "  - name: a\n    source: "+strconv.Quote(src)+"\n    destinaton: "+strconv.Quote(dst)+"\n")
	tests := []struct {
		name    string
		args    []string
		wantErr string // in stderr
	}{
		{"one folder only", []string{"run", src}, ""},
		{"config typo", []string{"run", "-c", typo}, "config.yaml:9"},
		{"config and folders", []string{"run", "-c", typo, src, dst}, ""},
		{"rescan too short", []string{"run", "--rescan", "500ms", src, dst}, ""},
		{"bad duration", []string{"run", "--settle", "soon", src, dst}, ""},
		{"unknown flag", []string{"run", "--frobnicate", src, dst}, "frobnicate"},
		{"destination inside source", []string{"run", src, filepath.Join(src, "backup")}, "inside"},
		{"status endpoint on every interface", []string{"run", "--status", "0.0.0.0:9471", src, dst}, "reachable from other machines"},
	}
	t.Cleanup(func() { assertAbsent(t, dst) }) // after the subtests: nothing started
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runQuick(t, tt.args...)
			if r.code != 2 || r.stderr == "" || !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("copyd %q: got %s\nwant exit 2 and an error on stderr containing %q", tt.args, r, tt.wantErr)
			}
		})
	}
}

// TestRunWatchLimitDegraded runs copyd in a user namespace whose inotify
// watch limit (user.max_inotify_watches, per namespace since Linux 5.11)
// is 5, so most of the 20 folders stay unwatched without touching the
// host's limit: copyd must say so once, clearly, keep running, and still
// copy a change in an unwatched folder through its periodic rescan.
func TestRunWatchLimitDegraded(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("a user namespace with its own watch limit needs root here; run the tests as root (CI does)")
	}
	const setLimit = `echo 5 > /proc/sys/user/max_inotify_watches && exec "$0" "$@"`
	via := []string{"unshare", "--user", "--map-root-user", "sh", "-c", setLimit}
	if out, err := exec.Command("unshare", "--user", "--map-root-user", "sh", "-c", setLimit, "true").CombinedOutput(); err != nil {
		t.Skipf("cannot lower the watch limit in a user namespace here (%v: %s)", err, out)
	}
	tree := map[string]string{}
	for i := range 20 {
		tree[fmt.Sprintf("d%02d/f.txt", i)] = "before"
	}
	_, src, dst := dirs(t, tree)
	d := startRunVia(t, via, nil, "--log-format", "json", "--settle", "50ms", "--rescan", "2s", src, dst)
	d.waitWatching(filepath.Base(src))
	limit := d.waitLog(0, match{level: "ERROR", text: []string{"watch limit"}})
	for _, key := range []string{"setting", "current", "folders", "fix"} {
		if limit.get(key) == "" {
			t.Errorf("watch-limit error has no %q: %v", key, limit)
		}
	}
	// Every folder gets a change; the unwatched ones arrive by rescan.
	for i := range 20 {
		write(t, filepath.Join(src, fmt.Sprintf("d%02d/f.txt", i)), "after!")
	}
	d.converge(src, dst)
	d.waitLog(0, match{msg: "periodic rescan"})
	if n := strings.Count(d.log.String(), "watch limit"); n != 1 {
		t.Errorf("the watch limit was logged %d times, want once", n)
	}
	d.finish(src, dst)
}

// TestRunStatusCommand runs the daemon with its status endpoint and asks
// it with copyd status, as an admin would, then again once it stopped.
func TestRunStatusCommand(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, src, dst := dirs(t, map[string]string{"a.txt": "a", "d/b.txt": "b"})
	d := runPaths(t, src, dst, "--status", addr)
	d.waitLog(0, match{msg: "ready"})
	d.waitWatching(filepath.Base(src)) // ready comes once watched; the first pass may still run
	r := copyd(t, "status", "--status", addr)
	if r.code != 0 || !strings.Contains(r.stdout, "watching") || !strings.Contains(r.stdout, filepath.Base(src)) {
		t.Errorf("copyd status: %v; want exit 0 and the pair watching", r)
	}
	d.stopOK(syscall.SIGTERM)
	r = copyd(t, "status", "--status", addr)
	if r.code != exitFailed || !strings.Contains(r.stderr, "not running") {
		t.Errorf("copyd status after stop: %v; want exit 1 and \"not running\"", r)
	}
}
