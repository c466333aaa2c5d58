//go:build linux

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/internal/treetest"
)

// Metadata regressions: what treetest.Diff compares (modes, mtimes of
// files and folders) and what it does not (owners, a symlink's own mtime)
// must arrive however the change reaches copyd: one event per path, a
// folder scan that rolls up many events, a symlink recreated with the
// same target, a time past what int64 nanoseconds hold. Changes are made
// with the programs that make them in real life (chmod -R, chown -R,
// touch -d, touch -h, ln -sfn, git checkout, tar -x).
// Helpers carry the prefix mdt.

// mdtMtime is the time every entry of a test tree starts with, so that a
// touch -d is a change.
var mdtMtime = time.Unix(1700000000, 0)

// mdtLater is what touch -d sets: another time, with nanoseconds.
const mdtLater = "2001-02-03 04:05:06.123456789"

// mdtMetaDiff returns nil when every entry under src has, in dst, its
// owner and group (when we are root, as copyd then copies them) and every
// symlink its own mtime: what treetest.Diff leaves out. Entries missing
// from dst are treetest.Diff's to report.
func mdtMetaDiff(src, dst string) error {
	var diffs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		s, err := os.Lstat(p)
		if err != nil {
			return err
		}
		g, err := os.Lstat(filepath.Join(dst, rel))
		if err != nil {
			diffs = append(diffs, err.Error())
			return nil
		}
		if s.Mode()&fs.ModeSymlink != 0 && g.Mode()&fs.ModeSymlink != 0 && !s.ModTime().Equal(g.ModTime()) {
			diffs = append(diffs, fmt.Sprintf("%q: symlink mtime %v, want %v", rel, g.ModTime(), s.ModTime()))
		}
		ss, gs := s.Sys().(*syscall.Stat_t), g.Sys().(*syscall.Stat_t)
		if os.Geteuid() == 0 && (ss.Uid != gs.Uid || ss.Gid != gs.Gid) {
			diffs = append(diffs, fmt.Sprintf("%q: owner %d:%d, want %d:%d", rel, gs.Uid, gs.Gid, ss.Uid, ss.Gid))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(diffs) > 0 {
		return errors.New(strings.Join(diffs[:min(10, len(diffs))], "\n"))
	}
	return nil
}

// mdtCompare is treetest.Compare and mdtMetaDiff.
func mdtCompare(src, dst string) error {
	if err := treetest.Compare(src, dst); err != nil {
		return err
	}
	return mdtMetaDiff(src, dst)
}

// mdtConverge waits until dst matches src as mdtCompare sees it, then
// checks the invariants of daemon.finish.
func mdtConverge(d *daemon, src, dst string) {
	d.t.Helper()
	d.waitFor(converged, func() error { return mdtCompare(src, dst) })
	d.finish(src, dst)
	if err := mdtMetaDiff(src, dst); err != nil {
		d.t.Error(err)
	}
}

// mdtStamp gives every entry under dir, dir and symlinks too, mdtMtime.
func mdtStamp(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			progCmd(t, "", "touch", "-h", "-d", "@1700000000", p)
			return nil
		}
		return os.Chtimes(p, mdtMtime, mdtMtime)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// mdtSymlink makes the symlink p pointing to target.
func mdtSymlink(t *testing.T, target, p string) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// mdtSync runs copyd sync with flags and checks that dst then matches src
// (mdtCompare) and holds no temp file.
func mdtSync(t *testing.T, src, dst string, flags ...string) {
	t.Helper()
	args := append(append([]string{"sync", "--progress", "never"}, flags...), src, dst)
	if r := copyd(t, args...); r.code != 0 {
		t.Fatalf("copyd %q: %s", args, r)
	}
	if err := mdtCompare(src, dst); err != nil {
		t.Fatalf("after copyd %q: %v", args, err)
	}
	assertNoTemps(t, dst)
}

// TestMdtMetaDiffSeesSymlinkTimes keeps mdtMetaDiff honest: a symlink
// whose own mtime differs is reported.
func TestMdtMetaDiffSeesSymlinkTimes(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	for _, side := range []string{"a", "b"} {
		mdtSymlink(t, "x", filepath.Join(base, side, "l"))
	}
	progCmd(t, base, "touch", "-h", "-d", mdtLater, "a/l")
	err := mdtMetaDiff(filepath.Join(base, "a"), filepath.Join(base, "b"))
	if err == nil || !strings.Contains(err.Error(), "symlink mtime") {
		t.Errorf("mdtMetaDiff() = %v, want a symlink mtime difference", err)
	}
}

// mdtLinkCase changes a symlink's own mtime and nothing else the
// destination sees: its target text stays.
type mdtLinkCase struct {
	name  string
	setup func(t *testing.T, src string)
	work  func(t *testing.T, src string)
}

func mdtLinkCases() []mdtLinkCase {
	plain := func(t *testing.T, src string) {
		writeTree(t, src, map[string]string{"repo/lib/a.txt": "a"})
		mdtSymlink(t, "lib", filepath.Join(src, "repo/docs"))
		mdtStamp(t, src)
	}
	return []mdtLinkCase{
		{
			name:  "ln -sfn with the same target",
			setup: plain,
			work:  func(t *testing.T, src string) { progCmd(t, filepath.Join(src, "repo"), "ln", "-sfn", "lib", "docs") },
		},
		{
			name:  "touch -h",
			setup: plain,
			work:  func(t *testing.T, src string) { progCmd(t, src, "touch", "-h", "-d", mdtLater, "repo/docs") },
		},
		{
			// docs -> lib on main, a folder on topic: checking out topic
			// and main again recreates the link with the same target.
			name: "git checkout away and back",
			setup: func(t *testing.T, src string) {
				repo := filepath.Join(src, "repo")
				writeTree(t, repo, map[string]string{"lib/a.txt": "a"})
				mdtSymlink(t, "lib", filepath.Join(repo, "docs"))
				progGit(t, repo, "init", "-q")
				progGit(t, repo, "add", "-A")
				progGit(t, repo, "commit", "-q", "-m", "main")
				progGit(t, repo, "checkout", "-q", "-b", "topic")
				progGit(t, repo, "rm", "-q", "docs")
				write(t, filepath.Join(repo, "docs/index.md"), "docs")
				progGit(t, repo, "add", "-A")
				progGit(t, repo, "commit", "-q", "-m", "topic")
				progGit(t, repo, "checkout", "-q", "main")
				mdtStamp(t, src)
			},
			work: func(t *testing.T, src string) {
				repo := filepath.Join(src, "repo")
				progGit(t, repo, "checkout", "-q", "topic")
				progGit(t, repo, "checkout", "-q", "main")
				if fi, err := os.Lstat(filepath.Join(repo, "docs")); err != nil || fi.Mode()&fs.ModeSymlink == 0 || fi.ModTime().Equal(mdtMtime) {
					t.Fatalf("docs after the checkouts: %v, %v; want a symlink made just now", fi, err)
				}
			},
		},
	}
}

// TestRunSymlinkMtime: a symlink whose own mtime changed while its
// target text did not gets the new mtime in the destination, set on the
// link itself.
func TestRunSymlinkMtime(t *testing.T) {
	t.Parallel()
	for _, tc := range mdtLinkCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			progNeed(t, "git", "touch", "ln")
			_, src, dst := dirs(t, nil)
			tc.setup(t, src)
			// The settle time keeps both checkouts in one settled change.
			d := startRun(t, nil, "--log-format", "json", "--settle", "1s", src, dst)
			d.waitWatching("src")
			d.waitFor(converged, func() error { return mdtCompare(src, dst) })
			tc.work(t, src)
			mdtConverge(d, src, dst)
		})
	}
}

// TestSyncSymlinkMtime: copyd sync repairs a symlink whose own mtime
// changed since the last sync while its target text did not.
func TestSyncSymlinkMtime(t *testing.T) {
	t.Parallel()
	for _, tc := range mdtLinkCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			progNeed(t, "git", "touch", "ln")
			_, src, dst := dirs(t, nil)
			tc.setup(t, src)
			mdtSync(t, src, dst)
			tc.work(t, src)
			mdtSync(t, src, dst)
		})
	}
}

// mdtFuture lies beyond 2262-04-11, where int64 nanoseconds since 1970 end.
const mdtFuture = "2300-01-01 00:00:00.5"

// mdtFutureTree makes src/future with a file, a symlink and a subfolder,
// every one of them (future too) with a time after 2262.
func mdtFutureTree(t *testing.T, src string) {
	t.Helper()
	writeTree(t, src, map[string]string{"future/f.txt": "f", "future/sub/g.txt": "g"})
	mdtSymlink(t, "f.txt", filepath.Join(src, "future/link"))
	mdtTouchFuture(t, src)
}

// mdtTouchFuture sets the times of future's entries and then of future
// itself to mdtFuture, with touch -h -d.
func mdtTouchFuture(t *testing.T, src string) {
	t.Helper()
	progCmd(t, src, "touch", "-h", "-d", mdtFuture, "future/f.txt", "future/link", "future/sub", "future")
	fi, err := os.Lstat(filepath.Join(src, "future"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.ModTime().Year() != 2300 {
		// XFS without bigtime, for one, stops at 2038.
		t.Skipf("the file system of %s does not keep the year 2300 (touch -d %q gave %v)", src, mdtFuture, fi.ModTime())
	}
}

// TestTimesBeyond2262 gives a file, a symlink and folders mtimes after
// 2262-04-11, which int64 nanoseconds since 1970 cannot hold: they must
// arrive as they are, as rsync -a brings them (seconds and nanoseconds).
func TestTimesBeyond2262(t *testing.T) {
	t.Parallel()
	t.Run("sync a new tree", func(t *testing.T) {
		t.Parallel()
		_, src, dst := dirs(t, nil)
		mdtFutureTree(t, src)
		mdtSync(t, src, dst)
	})
	t.Run("sync --checksum after touch -d", func(t *testing.T) {
		t.Parallel()
		_, src, dst := dirs(t, nil)
		writeTree(t, src, map[string]string{"future/f.txt": "f", "future/sub/g.txt": "g"})
		mdtSymlink(t, "f.txt", filepath.Join(src, "future/link"))
		mdtSync(t, src, dst)
		mdtTouchFuture(t, src)
		// The contents are equal: the times alone are set (with
		// --checksum the file's too, after comparing its bytes).
		mdtSync(t, src, dst, "--checksum")
	})
	t.Run("run, touch -d while watching", func(t *testing.T) {
		t.Parallel()
		_, src, dst := dirs(t, map[string]string{"future/f.txt": "f", "future/sub/g.txt": "g"})
		mdtSymlink(t, "f.txt", filepath.Join(src, "future/link"))
		d := runPaths(t, src, dst)
		d.waitFor(converged, func() error { return mdtCompare(src, dst) })
		mdtTouchFuture(t, src)
		mdtConverge(d, src, dst)
	})
}

// mdtBigFolder is the folder of the roll-up tests: more entries than the
// settle queue keeps apart (256), among them subfolders the destination
// will have — two empty, one with a file — and a symlink.
func mdtBigFolder(t *testing.T, src string) {
	t.Helper()
	tree := map[string]string{"big/sub/inner.txt": "inner"}
	for i := range 300 {
		tree[fmt.Sprintf("big/f%03d.txt", i)] = fmt.Sprintf("file %03d", i)
	}
	writeTree(t, src, tree)
	mkdir(t, filepath.Join(src, "big/empty-a"))
	mkdir(t, filepath.Join(src, "big/empty-b"))
	mdtSymlink(t, "f000.txt", filepath.Join(src, "big/link"))
	mdtStamp(t, src)
}

// mdtRelease is a reproducible build of version v: 300 files in one
// folder whose sizes do not depend on v.
func mdtRelease(v string) map[string]string {
	tree := map[string]string{}
	for i := range 300 {
		tree[fmt.Sprintf("big/f%03d.go", i)] = idrFill(fmt.Sprintf("package %s // file %03d\n", v, i), 100+i)
	}
	return tree
}

// TestRunRollupBringsEveryEntryInStep changes every entry of a folder
// with more than 256 of them at once, so that their events roll up into
// one scan of the folder: that scan must bring every entry whose events
// it replaced in step, subfolders the destination has included (their
// mode, owner and mtime), symlinks (their own mtime) and files written
// with their size and mtime kept (copied, as their Written events say).
func TestRunRollupBringsEveryEntryInStep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   []string
		root  bool // chown needs root
		setup func(t *testing.T, base, src string)
		work  func(t *testing.T, base, src string)
	}{
		{
			name:  "chmod -R",
			setup: func(t *testing.T, _, src string) { mdtBigFolder(t, src) },
			work:  func(t *testing.T, _, src string) { progCmd(t, src, "chmod", "-R", "g+w", "big") },
		},
		{
			name:  "chown -R",
			root:  true,
			setup: func(t *testing.T, _, src string) { mdtBigFolder(t, src) },
			work:  func(t *testing.T, _, src string) { progCmd(t, src, "chown", "-R", "65534:65534", "big") },
		},
		{
			// Each entry of big, not below: the subfolders change, what
			// is in them does not.
			name:  "touch -h -d over big/*",
			setup: func(t *testing.T, _, src string) { mdtBigFolder(t, src) },
			work: func(t *testing.T, _, src string) {
				entries, err := os.ReadDir(filepath.Join(src, "big"))
				if err != nil {
					t.Fatal(err)
				}
				args := []string{"-h", "-d", mdtLater}
				for _, e := range entries {
					args = append(args, filepath.Join("big", e.Name()))
				}
				progCmd(t, src, "touch", args...)
			},
		},
		{
			// Without an index (state_dir unusable, or a system where
			// copyd keeps no records) only the Written events tell that
			// the bytes of the next release differ: same names, sizes and
			// mtime.
			name: "tar -x of the next release without an index",
			env:  []string{"XDG_STATE_HOME=/dev/null"},
			setup: func(t *testing.T, base, src string) {
				progCmd(t, "", "tar", "-C", src, "-xf", idrTarball(t, base, "v1", mdtRelease("v1")))
			},
			work: func(t *testing.T, base, src string) {
				progCmd(t, "", "tar", "-C", src, "-xf", idrTarball(t, base, "v2", mdtRelease("v2")))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.root && os.Geteuid() != 0 {
				t.Skip("chown to another user needs root (CI runs as root)")
			}
			progNeed(t, "tar", "touch", "chmod", "chown")
			base, src, dst := dirs(t, nil)
			tt.setup(t, base, src)
			// A settle time longer than the program takes keeps every
			// path pending at once, so that they roll up.
			d := startRun(t, tt.env, "--log-format", "json", "--settle", "1s", src, dst)
			d.waitWatching("src")
			d.waitFor(converged, func() error { return mdtCompare(src, dst) })
			if tt.env != nil {
				d.waitLog(0, match{level: "ERROR", text: []string{"index not opened"}})
			}
			tt.work(t, base, src)
			mdtConverge(d, src, dst)
		})
	}
}

// TestFolderSpecialModeBits copies folders with the set-user-ID,
// set-group-ID and sticky bits, by copyd sync and by copyd run after a
// chmod, as rsync -a does. The set-user-ID bit of a folder used to be
// dropped (found by the adversarial run).
func TestFolderSpecialModeBits(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"u/f": "x", "ug/f": "x", "sticky/f": "x"})
	for name, mode := range map[string]fs.FileMode{"u": 0o755 | fs.ModeSetuid, "ug": 0o755 | fs.ModeSetuid | fs.ModeSetgid, "sticky": 0o777 | fs.ModeSticky} {
		chmod(t, filepath.Join(src, name), mode)
	}
	if r := copyd(t, "sync", src, dst); r.code != 0 {
		t.Fatalf("copyd sync: %v", r)
	}
	assertTreesEqual(t, src, dst)
	d := runPaths(t, src, dst)
	chmod(t, filepath.Join(src, "u"), 0o750|fs.ModeSetuid|fs.ModeSticky)
	d.finish(src, dst)
}
