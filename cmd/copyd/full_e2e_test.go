//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/copyd/copyd/internal/treetest"
)

// TestFullDestinationConverges: a destination with room for the mirror
// but not for the old files and the new ones side by side (copies go
// before deletions) fills up, and with delete the pair must still
// converge — the deletions no brake holds go first, then the copies —
// in copyd sync, at a daemon's start and in a running daemon.
//
// The destination is an 8 MiB tmpfs. It holds 5 MiB of files A and a
// 1 MiB copy of src/media, the mount point of another disk; then, with
// media unmounted (the inner-mount brake must keep its copy), A is
// replaced in the source by 4 MiB of files B: 10 MiB if B is copied
// before A goes. Once that has converged media is mounted back, and the
// destination must be an exact mirror.
func TestFullDestinationConverges(t *testing.T) {
	requireRoot(t, "mounting small tmpfs filesystems as the destination and inside the source")
	tests := []struct {
		name string
		// run copies src (A and media) to dst, then calls swap (which
		// unmounts media and puts B in A's place), and waits until dst
		// mirrors src but for media. It returns what copyd logged, and a
		// function that waits for the exact mirror once media is back.
		run func(t *testing.T, src, dst string, swap func()) (log string, mirror func())
	}{
		{"copyd sync", func(t *testing.T, src, dst string, swap func()) (string, func()) {
			syncOK(t, src, dst)
			swap()
			r := copyd(t, "sync", "--delete", "--fsync=false", src, dst)
			if r.code != 0 {
				t.Errorf("copyd sync on a full destination: exit %d, want 0\n%s", r.code, r.stderr)
			}
			treetest.AssertTreesEqual(t, src, dst, "media")
			// Counted once each: the files of the pass that found the
			// destination full are not counted again by the next one.
			if copied, upToDate, failed := summary(t, r); copied != 4 || upToDate != 1 || failed != 0 {
				t.Errorf("summary: copied %d, up to date %d, failed %d; want 4, 1 (keep.txt) and 0\n%s", copied, upToDate, failed, r.stdout)
			}
			return r.stderr, func() {
				syncOK(t, src, dst)
				treetest.AssertTreesEqual(t, src, dst)
			}
		}},
		{"daemon start", func(t *testing.T, src, dst string, swap func()) (string, func()) {
			syncOK(t, src, dst)
			swap()
			// A mount makes no event in the folder mounted on: media's
			// files come back with a rescan.
			d := runPaths(t, src, dst, "--delete", "--rescan", "1s")
			d.converge(src, dst, "media")
			return d.log.String(), func() { d.finish(src, dst) }
		}},
		{"daemon running", func(t *testing.T, src, dst string, swap func()) (string, func()) {
			d := runPaths(t, src, dst, "--delete", "--rescan", "1s")
			d.converge(src, dst)
			since := d.mark()
			swap()
			d.waitLog(since, match{text: []string{"deleting nothing in this folder"}})
			d.converge(src, dst, "media")
			return d.log.String(), func() { d.finish(src, dst) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := map[string]string{"keep.txt": "stays"}
			for i := range 5 {
				a[fmt.Sprintf("lessons/a%d.mp4", i)] = mib(fmt.Sprintf("a%d", i))
			}
			base, src, _ := dirs(t, a)
			dstDisk := filepath.Join(base, "dstdisk")
			mkdir(t, dstDisk)
			mountTmpfs(t, dstDisk, "8m")
			dst := filepath.Join(dstDisk, "dst")
			media := filepath.Join(src, "media")
			mkdir(t, media)
			mountMedia := func() {
				mountTmpfs(t, media, "4m")
				writeTree(t, media, map[string]string{"clip.mp4": mib("clip"), "notes.txt": "notes"})
			}
			mountMedia()

			var mediaBefore map[string]treetest.Entry
			swap := func() {
				mediaBefore = listDst(t, filepath.Join(dst, "media"))
				mustRunTool(t, "umount", media)
				b := map[string]string{}
				for i := range 4 {
					b[fmt.Sprintf("lessons-new/b%d.mp4", i)] = mib(fmt.Sprintf("b%d", i))
				}
				// B is made beside the source before A goes, so that it
				// cannot reuse A's inode numbers (which copyd would rightly
				// take for renames), and moved in only once A is gone: a
				// running daemon must not start copying B while A is still
				// in the source (the destination then is rightly full with
				// nothing to delete, and the test would race).
				staging := filepath.Join(filepath.Dir(src), "staging")
				writeTree(t, staging, b)
				// Made a while ago (cp -p, an unpacked archive): a daemon's
				// scan copies them at once rather than leaving them to
				// their events, after the deletions.
				for rel := range b {
					if err := os.Chtimes(filepath.Join(staging, rel), time.Time{}, lastYear); err != nil {
						t.Fatal(err)
					}
				}
				remove(t, filepath.Join(src, "lessons"))
				rename(t, filepath.Join(staging, "lessons-new"), filepath.Join(src, "lessons-new"))
			}
			log, mirror := tt.run(t, src, dst, swap)
			if !strings.Contains(log, "no space left on device") {
				t.Errorf("copyd never found the destination full; the test proves nothing\n%s", log)
			}
			// A pause that copyd ended by itself is no error to report.
			if strings.Contains(log, "destination refuses writes") {
				t.Errorf("copyd logged that the destination refuses writes, though deleting made room\n%s", log)
			}
			treetest.AssertUnchanged(t, mediaBefore, filepath.Join(dst, "media"))
			if t.Failed() {
				return
			}
			mountMedia()
			mirror()
			assertNoTemps(t, dst)
		})
	}
}

var lastYear = time.Date(2025, 12, 1, 10, 0, 0, 0, time.UTC)

// mib returns 1 MiB of text made of name.
func mib(name string) string {
	return strings.Repeat(fmt.Sprintf("%-15s\n", name), 1<<16)
}

// mountTmpfs mounts a tmpfs of size on dir and unmounts it in a cleanup,
// before the TempDir that holds dir is removed.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := runTool("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v)", err)
	}
	t.Cleanup(func() {
		if isMountPoint(dir) {
			if err := runTool("umount", "-l", dir); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestSyncFullDestinationReadFailureBrake: deletions that a brake holds
// stay held when the destination is full. A source folder that copyd
// cannot read makes every deletion wait (its files would look deleted),
// so the room pass deletes nothing either, and copyd sync stops with the
// destination full and every old file still there. It runs copyd as an
// unprivileged user, for whom mode 000 denies reading.
func TestSyncFullDestinationReadFailureBrake(t *testing.T) {
	t.Parallel()
	cred := nobody(t)
	base := worldDir(t)
	src, dstDisk := filepath.Join(base, "src"), filepath.Join(base, "dstdisk")
	a := map[string]string{"private/notes.txt": "notes"}
	for i := range 5 {
		a[fmt.Sprintf("lessons/a%d.mp4", i)] = mib(fmt.Sprintf("a%d", i))
	}
	writeTree(t, src, a)
	mkdir(t, dstDisk)
	mountTmpfs(t, dstDisk, "8m")
	dst := filepath.Join(dstDisk, "dst")
	mkWorldWritable(t, base)
	if r := copydAs(t, cred, "sync", "--delete", "--fsync=false", src, dst); r.code != 0 {
		t.Fatalf("first copy: %s", r)
	}

	b := map[string]string{}
	for i := range 4 {
		b[fmt.Sprintf("lessons-new/b%d.mp4", i)] = mib(fmt.Sprintf("b%d", i))
	}
	writeTree(t, src, b)
	mkWorldWritable(t, src)
	remove(t, filepath.Join(src, "lessons"))
	chmod(t, filepath.Join(src, "private"), 0o000)
	r := copydAs(t, cred, "sync", "--delete", "--fsync=false", src, dst)
	if r.code != exitFailed {
		t.Errorf("copyd sync: exit %d, want %d (the destination stays full)", r.code, exitFailed)
	}
	for _, want := range []string{
		"no space left on device",
		"deleting nothing: a source folder could not be read",
		"destination refuses writes; pair stopped",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the log lacks %q:\n%s", want, r.stderr)
		}
	}
	for rel, content := range a {
		assertContent(t, filepath.Join(dst, filepath.FromSlash(rel)), content)
	}
	assertNoTemps(t, dst)
}
