//go:build linux

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Adversarial: the index's quick check trusts a record whose source ctime
// is more than racyWindow (100 ms) old. On a filesystem whose timestamps
// have whole-second granularity (ext2/ext3, ext4 with 128-byte inodes —
// what older mke2fs made for any filesystem under 512 MB —, HFS+, FAT,
// many NFS servers) a rewrite of equal size in the same second as the copy
// keeps device, inode, size, mtime and ctime, so copyd takes the stale copy
// for up to date — in `sync` and at a `run` restart — and never fixes it:
// a wrong byte under a name, against "Never a wrong byte under a name" and
// the quick check's "same inode, size and mtime with a new ctime ... is
// compared byte by byte" (the ctime is not new, because it cannot be).

// coarseExt4 mounts an ext4 filesystem with 128-byte inodes (timestamps
// in whole seconds) on dir.
func coarseExt4(t *testing.T, base, dir string) {
	t.Helper()
	requireRoot(t, "mounting an ext4 image with 128-byte inodes")
	img := filepath.Join(base, "coarse.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Truncate(32<<20), f.Close()); err != nil {
		t.Fatal(err)
	}
	if err := runTool("mkfs.ext4", "-q", "-F", "-I", "128", img); err != nil {
		t.Skipf("cannot make an ext4 image here (%v)", err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("cannot attach a loop device here (%v: %s)", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { runTool("losetup", "-d", dev) })
	if err := mountDev(t, dev, dir); err != nil {
		t.Skipf("cannot mount a loop device here (%v)", err)
	}
	os.Remove(filepath.Join(dir, "lost+found"))
}

// ctimeSec is p's ctime in seconds.
func ctimeSec(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Ctim.Nsec != 0 {
		t.Skipf("the filesystem keeps sub-second ctimes (%d ns); the test needs whole seconds", st.Ctim.Nsec)
	}
	return st.Ctim.Sec
}

// startOfSecond waits until 150 ms into a fresh second, so that the copy
// that follows happens more than racyWindow after the second's start (the
// ctime a whole-second filesystem records) and well before its end.
func startOfSecond() {
	now := time.Now()
	next := now.Truncate(time.Second).Add(time.Second + 150*time.Millisecond)
	time.Sleep(time.Until(next))
}

func TestAdversarialSyncSameSecondRewriteOnCoarseTimestamps(t *testing.T) {
	base, src, dst := dirs(t, nil)
	coarseExt4(t, base, src)
	p := filepath.Join(src, "f")
	tried := 0
	for round := 0; round < 10 && tried < 3; round++ {
		startOfSecond()
		write(t, p, "old-content")
		if r := copyd(t, "sync", src, dst); r.code != 0 {
			t.Fatalf("first sync: %s", r)
		}
		c := ctimeSec(t, p)
		write(t, p, "new-content") // same size, same inode, as `echo > f` does
		if ctimeSec(t, p) != c || time.Now().Unix() != c {
			continue // crossed a second boundary: the ctime changed; try again
		}
		tried++
		if r := copyd(t, "sync", src, dst); r.code != 0 {
			t.Fatalf("second sync: %s", r)
		}
		time.Sleep(1100 * time.Millisecond)
		r := copyd(t, "sync", src, dst) // a later sync, too: the stale copy stays
		if got, _ := os.ReadFile(filepath.Join(dst, "f")); string(got) != "new-content" {
			t.Fatalf("source f holds %q, destination f holds %q after two more syncs (%s)", "new-content", got, strings.TrimSpace(r.stdout))
		}
	}
	if tried == 0 {
		t.Skip("never managed a rewrite in the same second as the copy")
	}
}

func TestAdversarialRunRestartSameSecondRewriteOnCoarseTimestamps(t *testing.T) {
	base, src, dst := dirs(t, nil)
	coarseExt4(t, base, src)
	p := filepath.Join(src, "f")
	write(t, p, "seed-content")
	tried := 0
	for round := 0; round < 10 && tried < 3; round++ {
		startOfSecond()
		write(t, p, "old-content")
		d := runPaths(t, src, dst) // copies f at its start
		assertContent(t, filepath.Join(dst, "f"), "old-content")
		d.stopOK(syscall.SIGTERM)
		c := ctimeSec(t, p)
		write(t, p, "new-content")
		if ctimeSec(t, p) != c || time.Now().Unix() != c {
			continue
		}
		tried++
		d = runPaths(t, src, dst)
		time.Sleep(1500 * time.Millisecond) // the daemon propagates in well under a second
		got, _ := os.ReadFile(filepath.Join(dst, "f"))
		d.stopOK(syscall.SIGTERM)
		if string(got) != "new-content" {
			t.Fatalf("after a restart the daemon is watching with source f = %q, destination f = %q", "new-content", got)
		}
	}
	if tried == 0 {
		t.Skip("never managed a rewrite in the same second as the copy")
	}
}
