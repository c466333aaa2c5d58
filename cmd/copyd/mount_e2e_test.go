//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/internal/treetest"
)

// End-to-end tests of faults that come from mounts: a destination remounted
// read-only, a source disk unmounted and mounted back, and a file replaced
// by a folder while the daemon copies it. The mount tests put a small ext4
// image on a loop device under t.TempDir(); they need root (CI runs as
// root) and skip with the reason elsewhere. Every mount and loop device is
// undone by a cleanup, registered after the TempDir's own so that it runs
// before the folder is removed, even when the test fails.

// requireRoot skips t unless it runs as root; what says what needs it.
func requireRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("%s needs root; run the tests as root (CI does)", what)
	}
}

// runTool runs name with args and returns an error holding its output if
// it fails.
func runTool(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// loopExt4 makes an ext4 filesystem of size bytes in a sparse image file
// under dir, attaches it to a free loop device and returns the device; a
// cleanup detaches it. It skips t when that cannot be done here (no
// mkfs.ext4, no loop devices, a container without the privilege).
func loopExt4(t *testing.T, dir string, size int64) string {
	t.Helper()
	img := filepath.Join(dir, "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Truncate(size), f.Close()); err != nil {
		t.Fatal(err)
	}
	if err := runTool("mkfs.ext4", "-q", "-F", img); err != nil {
		t.Skipf("cannot make an ext4 image here (%v); the test needs mkfs.ext4", err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("cannot attach a loop device here (losetup: %v: %s); the test needs loop devices", err, bytes.TrimSpace(out))
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		// Still mounted after a failed cleanup: -d sets autoclear, and
		// the kernel detaches the device at the last unmount.
		if err := runTool("losetup", "-d", dev); err != nil {
			t.Errorf("detach the loop device: %v", err)
		}
	})
	return dev
}

// mountDev mounts dev on dir and registers a cleanup that unmounts it
// if it is still mounted then.
func mountDev(t *testing.T, dev, dir string) error {
	t.Helper()
	if err := runTool("mount", dev, dir); err != nil {
		return err
	}
	t.Cleanup(func() {
		if !isMountPoint(dir) {
			return
		}
		if err := runTool("umount", dir); err != nil {
			// Busy (a test failed with a file open in it): detach it now,
			// the kernel finishes once the file is closed.
			t.Logf("unmount %s: %v; detaching it lazily", dir, err)
			if err := runTool("umount", "-l", dir); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
	return nil
}

// isMountPoint reports whether dir is the root of a mount (another
// filesystem than its parent's).
func isMountPoint(dir string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(dir, &a) != nil || syscall.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// mustRunTool runs name with args and fails the test if it fails.
func mustRunTool(t *testing.T, name string, args ...string) {
	t.Helper()
	if err := runTool(name, args...); err != nil {
		t.Fatal(err)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// countLog returns the number of log lines matching m.
func (d *daemon) countLog(m match) int {
	n := 0
	for _, l := range d.log.lines() {
		if m.ok(l) {
			n++
		}
	}
	return n
}

// logSoon is waitLog that reports a missing line with false instead of
// failing the test, so that a test can go on and show what else happens.
func (d *daemon) logSoon(since int, timeout time.Duration, m match) (logLine, bool) {
	deadline := time.Now().Add(timeout)
	for {
		lines := d.log.lines()
		for _, l := range lines[min(since, len(lines)):] {
			if m.ok(l) {
				return l, true
			}
		}
		if time.Now().After(deadline) || d.exited() {
			return logLine{}, false
		}
		time.Sleep(10 * time.Millisecond) // polling, as waitFor does
	}
}

// TestRunReadOnlyDestination remounts the destination (an ext4 image on a
// loop device) read-only under a running daemon: the pair pauses with one
// clear error naming the cause, the status says paused, nothing is written
// to the source or half-written to the destination; once the destination
// is read-write again the pair resumes by itself (its first probe is 5 s
// after the pause) and every change made meanwhile (a new file, an edited
// one, a deleted one) arrives.
func TestRunReadOnlyDestination(t *testing.T) {
	t.Parallel()
	requireRoot(t, "mounting an ext4 image on a loop device as the destination")
	base, src, _ := dirs(t, map[string]string{
		"keep.txt":    "keep",
		"edit.txt":    "before",
		"del.txt":     "delete me",
		"dir/sub.txt": "sub",
	})
	mnt := filepath.Join(base, "mnt")
	mkdir(t, mnt)
	dev := loopExt4(t, base, 16<<20)
	if err := mountDev(t, dev, mnt); err != nil {
		t.Skipf("cannot mount a loop device here (%v); the read-only destination is not tested", err)
	}
	dst := filepath.Join(mnt, "dst")
	addr := freeAddr(t)
	d := runPaths(t, src, dst, "--delete", "--status", addr)
	d.converge(src, dst)
	dstBefore := treetest.List(t, dst)

	mustRunTool(t, "mount", "-o", "remount,ro", mnt)
	since := d.mark()
	write(t, filepath.Join(src, "new.txt"), "made while read-only")
	write(t, filepath.Join(src, "edit.txt"), "after, and longer")
	remove(t, filepath.Join(src, "del.txt"))
	srcBefore := treetest.List(t, src)

	paused := d.waitLog(since, match{level: "ERROR", text: []string{"pair paused"}})
	t.Logf("pause line: %s", paused.raw)
	if err := paused.get("err"); !strings.Contains(err, "read-only file system") {
		t.Errorf("pause line err = %q, want the cause (read-only file system)", err)
	}
	var st result
	d.waitFor(logWait, func() error {
		st = copyd(t, "status", "--status", addr)
		if st.code != exitFailed || !strings.Contains(st.stdout, "paused") {
			return fmt.Errorf("copyd status: %v; want exit 1 and the pair paused", st)
		}
		return nil
	})
	t.Logf("copyd status while read-only:\n%s", st.stdout)
	treetest.AssertUnchanged(t, dstBefore, dst)
	assertNoTemps(t, dst)

	mustRunTool(t, "mount", "-o", "remount,rw", mnt)
	resumed := d.waitLog(since, match{level: "INFO", msg: "destination takes writes again; resuming with a full rescan"})
	t.Logf("resume line: %s", resumed.raw)
	d.converge(src, dst)
	assertAbsent(t, filepath.Join(dst, "del.txt"))
	d.waitFor(logWait, func() error {
		st = copyd(t, "status", "--status", addr)
		if st.code != 0 || !strings.Contains(st.stdout, "watching") {
			return fmt.Errorf("copyd status: %v; want exit 0 and the pair watching", st)
		}
		return nil
	})
	treetest.AssertUnchanged(t, srcBefore, src)
	if n := d.countLog(match{text: []string{"pair paused"}}); n != 1 {
		t.Errorf("the pause was logged %d times, want once", n)
	}
	d.finish(src, dst)
}

// TestRunSourceUnmounted unmounts the source disk (an ext4 image on a loop
// device, the pair mirroring deletions) under a running daemon: nothing is
// deleted in the destination and copyd says why; changes made to the disk
// while it was away (mounted elsewhere: a file added, one edited, one
// deleted) arrive once it is mounted back on the source path, without a
// restart, and later changes arrive too. copyd notices the swap by the
// root's identity (fsnotify drops the kernel's unmount notice).
func TestRunSourceUnmounted(t *testing.T) {
	t.Parallel()
	requireRoot(t, "mounting an ext4 image on a loop device as the source")
	base := t.TempDir()
	src, dst, elsewhere := filepath.Join(base, "src"), filepath.Join(base, "dst"), filepath.Join(base, "elsewhere")
	mkdir(t, src)
	mkdir(t, elsewhere)
	dev := loopExt4(t, base, 16<<20)
	if err := mountDev(t, dev, src); err != nil {
		t.Skipf("cannot mount a loop device here (%v); the unmounted source is not tested", err)
	}
	writeTree(t, src, map[string]string{
		"keep.txt":  "keep",
		"edit.txt":  "before",
		"del.txt":   "delete me",
		"dir/a.txt": "a",
	})
	d, before := runMirrored(t, src, dst)

	// copyd holds no file open in the source, so a plain umount works; if
	// it is busy, copyd keeps something open there, which is a finding.
	since := d.mark()
	mustRunTool(t, "umount", src)
	// The source path is now the empty folder the disk was mounted on. The
	// brake's line comes once copyd has decided to delete nothing, so it
	// is also the barrier before the destination is checked.
	brake := match{text: []string{"deleting nothing", "waiting for source"}}
	if _, ok := d.logSoon(since, logWait, brake); !ok {
		t.Errorf("copyd logged nothing about the unmounted source within %v (want %v)", logWait, brake)
	}
	for _, l := range d.log.lines()[since:] {
		t.Logf("after the unmount: %s", l.raw)
	}
	treetest.AssertUnchanged(t, before, dst)

	if err := mountDev(t, dev, elsewhere); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(elsewhere, "new.txt"), "made while away")
	write(t, filepath.Join(elsewhere, "edit.txt"), "after, and longer")
	remove(t, filepath.Join(elsewhere, "del.txt"))
	mustRunTool(t, "umount", elsewhere)
	treetest.AssertUnchanged(t, before, dst)

	since = d.mark()
	if err := mountDev(t, dev, src); err != nil {
		t.Fatal(err)
	}
	d.converge(src, dst)
	assertAbsent(t, filepath.Join(dst, "del.txt"))
	// And the disk is watched again: a change made now arrives.
	write(t, filepath.Join(src, "later.txt"), "written after the disk came back")
	d.finish(src, dst)
	for _, l := range d.log.lines()[since:] {
		t.Logf("after mounting back: %s", l.raw)
	}
}

// finalName watches one destination path while a test runs and checks, on
// every look, that it holds nothing (absent), the old version, the
// complete new version or a folder: never a part of a file.
type finalName struct {
	path string
	old  []byte
	cur  bigFile

	stop chan struct{}
	wg   sync.WaitGroup
	seen []string // states in the order they were first seen; run's until done
	errs []error  // run's until done
}

func watchFinalName(p string, old []byte, cur bigFile) *finalName {
	w := &finalName{path: p, old: old, cur: cur, stop: make(chan struct{})}
	w.wg.Go(w.run)
	return w
}

func (w *finalName) run() {
	verified := map[uint64]bool{} // inodes of complete new versions
	for {
		// Once stopped, one more look: the final state may have come while
		// the last look read the 256 MiB version.
		stopping := false
		select {
		case <-w.stop:
			stopping = true
		default:
		}
		state, err := w.look(verified)
		if err != nil && len(w.errs) < 10 {
			w.errs = append(w.errs, err)
		}
		if state != "" && (len(w.seen) == 0 || w.seen[len(w.seen)-1] != state) {
			w.seen = append(w.seen, state)
		}
		if stopping {
			return
		}
		select {
		case <-w.stop:
		case <-time.After(time.Millisecond): // a look every millisecond
		}
	}
}

// look returns what the final name holds now, and an error if that is a
// state the source never had.
func (w *finalName) look(verified map[uint64]bool) (string, error) {
	f, err := os.Open(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "absent", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	switch {
	case fi.IsDir():
		return "folder", nil
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("%s is a %v", w.path, fi.Mode().Type())
	case fi.Size() == int64(len(w.old)):
		b, err := io.ReadAll(f)
		if err != nil {
			return "", err
		}
		if !bytes.Equal(b, w.old) {
			return "", fmt.Errorf("%s has the old size but not the old content: %q", w.path, b)
		}
		return "old version", nil
	case fi.Size() == int64(w.cur.size):
		ino := fi.Sys().(*syscall.Stat_t).Ino
		if !verified[ino] {
			if err := sameAsBig(w.cur, f); err != nil {
				return "", fmt.Errorf("%s has the new size but not the new content: %v", w.path, err)
			}
			verified[ino] = true
		}
		return "new version", nil
	}
	return "", fmt.Errorf("%s holds %d bytes: neither the old version (%d) nor the new one (%d)", w.path, fi.Size(), len(w.old), w.cur.size)
}

// sameAsBig returns nil if r holds exactly f (bigFile.check for an open
// file, whose name may be gone by now).
func sameAsBig(f bigFile, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	want, got := make([]byte, 1<<20), make([]byte, 1<<20)
	for i := range f.size >> 20 {
		f.mib(want, i)
		if _, err := io.ReadFull(br, got); err != nil {
			return fmt.Errorf("%d MiB, want %d", i, f.size>>20)
		}
		if !bytes.Equal(want, got) {
			return fmt.Errorf("MiB %d differs", i)
		}
	}
	if n, _ := br.Read(got); n > 0 {
		return fmt.Errorf("longer than %d MiB", f.size>>20)
	}
	return nil
}

// done stops watching and returns the states seen and the errors found.
func (w *finalName) done() (seen []string, errs []error) {
	close(w.stop)
	w.wg.Wait()
	return w.seen, w.errs
}

// TestRunFileReplacedByFolderMidCopy replaces a source file by a folder of
// the same name while the daemon copies the file's new version (256 MiB,
// so that its temp file is there long enough to be seen): the copy is
// discarded or lands whole, the folder and its files arrive, no temp file
// is left, and the final name never holds a part of a file.
func TestRunFileReplacedByFolderMidCopy(t *testing.T) {
	t.Parallel()
	const old = "the old version"
	base, src, dst := dirs(t, map[string]string{"big.bin": old, "other.txt": "o"})
	d := runPaths(t, src, dst)
	d.converge(src, dst)

	// The new version is written outside and moved in, so that copyd sees
	// it complete at once and copies it over the old one through a named
	// temp file (a new file would go through an unnamed one, which cannot
	// be seen). The folder is prepared outside too and moved in whole.
	cur := newBigFile(256<<20, 42)
	cur.write(t, filepath.Join(base, "big.bin"))
	writeTree(t, filepath.Join(base, "folder"), map[string]string{"a.txt": "a", "b.txt": "b", "sub/c.txt": "c"})
	w := watchFinalName(filepath.Join(dst, "big.bin"), []byte(old), cur)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			w.done()
		}
	})
	since := d.mark()
	rename(t, filepath.Join(base, "big.bin"), filepath.Join(src, "big.bin"))
	midCopy := d.waitCopying(src, dst, []string{"big.bin"})
	remove(t, filepath.Join(src, "big.bin"))
	rename(t, filepath.Join(base, "folder"), filepath.Join(src, "big.bin"))
	t.Logf("file replaced by a folder with its copy under way: %v", midCopy)

	// The discarded temp goes first: Compare would read its 256 MiB on
	// every poll.
	d.waitFor(converged, func() error {
		temps, err := treetest.Temps(dst)
		if err == nil && len(temps) > 0 {
			err = fmt.Errorf("temp files left: %q", temps)
		}
		return err
	})
	d.converge(src, dst)
	stopped = true
	seen, errs := w.done()
	t.Logf("the final name held, in turn: %s", strings.Join(seen, ", "))
	for _, err := range errs {
		t.Errorf("the destination's final name held a state the source never had: %v", err)
	}
	if !slices.Contains(seen, "folder") {
		t.Error("the folder was never seen under the final name")
	}
	d.finish(src, dst)
	for _, l := range d.log.lines()[since:] {
		t.Logf("copyd: %s", l.raw)
	}
}
