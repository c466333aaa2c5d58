//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/copyd/copyd/internal/treetest"
	"golang.org/x/sys/unix"
)

// Hostile input for the real binary, one-shot and daemon: paths near and
// beyond PATH_MAX, hard-link farms, symlink loops and destination symlinks
// that lead outside, and names no one should have to handle (newlines,
// invalid UTF-8, terminal escapes, 255-byte components). sync/ has the
// engine-level tests; these check what an admin sees: exit codes, log
// lines, and the destination.

// pathMax is Linux's PATH_MAX: a path given to a system call holds at most
// pathMax-1 bytes.
const pathMax = 4096

// tempOverhead is what copyd's temp name adds to a file name when it
// replaces a file: ".<name>.copyd-<16 hex>.tmp" (internal/tempname).
const tempOverhead = len("." + ".copyd-0123456789abcdef.tmp")

// longName returns a 250-byte folder name that starts with i, so that the
// components of a chain differ.
func longName(i int) string { return fmt.Sprintf("%02d", i) + strings.Repeat("d", 248) }

// longChain returns n 250-byte folder names.
func longChain(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = longName(i)
	}
	return names
}

// longPathCase is a tree whose one file sits below folders of 250-byte
// names, close to PATH_MAX.
type longPathCase struct {
	name string
	// shape returns the folder chain and file name for a destination
	// folder path dst; it fails the test if dst is too long for the shape.
	shape func(t *testing.T, dst string) (chain []string, file string)
}

var longPathCases = []longPathCase{
	{
		// 15 folders of 250 bytes and a 200-byte file: 3,965 bytes
		// relative, with room left for the temp name of a replacement.
		name: "relative 3965 bytes",
		shape: func(t *testing.T, dst string) ([]string, string) {
			chain, file := longChain(15), strings.Repeat("f", 196)+".txt"
			abs := len(filepath.Join(append(append([]string{dst}, chain...), file)...))
			if abs+tempOverhead >= pathMax {
				t.Fatalf("the temp dir prefix %q is too long: the file's path would be %d bytes and its temp name's %d, PATH_MAX is %d; set TMPDIR to a shorter folder",
					dst, abs, abs+tempOverhead, pathMax)
			}
			return chain, file
		},
	},
	{
		// The longest path a system call takes: 4,095 bytes, in the
		// destination as in the source ("src" and "dst" are as long). A
		// temp name beside the file makes a longer path, so copyd must not
		// need to reach one by its full path.
		name: "absolute 4095 bytes",
		shape: func(t *testing.T, dst string) ([]string, string) {
			left := pathMax - 1 - len(dst) - 1 // bytes after dst + "/"
			n := (left - 1) / 251              // folders of 250 bytes + "/"
			if left-n*251 < 5 {
				n-- // a file name of at least "f.txt"
			}
			file := strings.Repeat("f", left-n*251-4) + ".txt"
			if n < 1 || len(file) > 255 || len(file) < 5 {
				t.Fatalf("cannot shape a 4095-byte path below %q", dst)
			}
			return longChain(n), file
		},
	},
	{
		// The same with a name shorter than a temp name's pattern: no temp
		// path beside it fits, so copyd reaches the temp through its folder.
		name: "absolute 4095 bytes, short name",
		shape: func(t *testing.T, dst string) ([]string, string) {
			const file = "f.txt"
			left := pathMax - 1 - len(dst) - 1 - len(file) // the folders and their slashes
			n := (left + 250) / 251                        // folders of at most 250 bytes + "/"
			chain := longChain(n)
			last := left - (n-1)*251 - 1
			if last < 3 || last > 255 {
				t.Fatalf("cannot shape a 4095-byte path below %q", dst)
			}
			chain[n-1] = chain[n-1][:last]
			return chain, file
		},
	},
}

// TestHostileLongPaths copies a file whose path is close to PATH_MAX, once
// and while the daemon runs (created with mkdir -p, then edited in place).
func TestHostileLongPaths(t *testing.T) {
	t.Parallel()
	for _, tt := range longPathCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			t.Run("sync", func(t *testing.T) {
				t.Parallel()
				_, src, dst := dirs(t, map[string]string{"short.txt": "short"})
				chain, file := tt.shape(t, dst)
				rel := filepath.Join(append(slices.Clone(chain), file)...)
				write(t, filepath.Join(src, rel), "at the bottom")
				t.Logf("relative path %d bytes, absolute %d", len(rel), len(filepath.Join(dst, rel)))
				r := copyd(t, "sync", "--progress", "never", src, dst)
				if copied, _, failed := summary(t, r); r.code != 0 || copied != 2 || failed != 0 {
					t.Fatalf("sync: want exit 0, 2 copied, 0 failed; got %s", r)
				}
				treetest.AssertTreesEqual(t, src, dst)
				// The next sync replaces the file through a temp name.
				appendTo(t, filepath.Join(src, rel), ", edited")
				r = copyd(t, "sync", "--progress", "never", src, dst)
				if copied, _, failed := summary(t, r); r.code != 0 || copied != 1 || failed != 0 {
					t.Errorf("sync after an edit: want exit 0, 1 copied, 0 failed; got %s", r)
				}
				treetest.AssertTreesEqual(t, src, dst)
				assertNoTemps(t, dst)
			})
			t.Run("run", func(t *testing.T) {
				t.Parallel()
				_, src, dst := dirs(t, map[string]string{"short.txt": "short"})
				chain, file := tt.shape(t, dst)
				rel := filepath.Join(append(slices.Clone(chain), file)...)
				d := runPaths(t, src, dst)
				d.converge(src, dst)
				write(t, filepath.Join(src, rel), "at the bottom") // mkdir -p, then the file
				d.converge(src, dst)
				appendTo(t, filepath.Join(src, rel), ", edited")
				d.finish(src, dst)
			})
		})
	}
}

// appendTo appends s to the file p, in place.
func appendTo(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// mkdirBeyondPathMax makes root/chain[0]/chain[1]/.../file with *at
// system calls, which take one component at a time relative to an open
// folder and so are not bound by PATH_MAX (os.MkdirAll is).
func mkdirBeyondPathMax(t *testing.T, root string, chain []string, file, content string) {
	t.Helper()
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", root, err)
	}
	defer func() { unix.Close(fd) }()
	for _, name := range chain {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatalf("mkdirat %.20s…: %v", name, err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("openat %.20s…: %v", name, err)
		}
		unix.Close(fd)
		fd = next
	}
	ffd, err := unix.Openat(fd, file, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatalf("create %s at the bottom: %v", file, err)
	}
	defer unix.Close(ffd)
	if _, err := unix.Write(ffd, []byte(content)); err != nil {
		t.Fatal(err)
	}
}

// firstTooLong returns the relative path of the first folder of
// top/chain... whose absolute path below root exceeds PATH_MAX, and how
// many folders of chain come before it.
func firstTooLong(t *testing.T, root, top string, chain []string) (rel string, below int) {
	t.Helper()
	rel = top
	for i, name := range chain {
		rel += "/" + name
		if len(root)+1+len(rel) >= pathMax {
			return rel, i
		}
	}
	t.Fatalf("the chain stays below PATH_MAX under %s", root)
	return "", 0
}

// chainPrefix returns an error unless dst/top holds exactly the first n
// folders of chain and nothing else: what is above PATH_MAX is copied, and
// nothing below it.
func chainPrefix(dst, top string, chain []string, n int) error {
	var got []string
	err := filepath.WalkDir(filepath.Join(dst, top), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dst, p)
		if !d.IsDir() {
			return fmt.Errorf("%.60s… in the destination is a %v, want only folders", rel, d.Type())
		}
		got = append(got, rel)
		return nil
	})
	if err != nil {
		return err
	}
	want := []string{top}
	for i := range n {
		want = append(want, filepath.Join(top, filepath.Join(chain[:i+1]...)))
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("destination %s holds %d entries, want the folder and the %d chain folders below PATH_MAX", top, len(got), n)
	}
	return nil
}

// TestHostileBeyondPathMax puts a folder chain of 5,000 bytes in the
// source: the folder that crosses PATH_MAX cannot be opened by its path
// ("file name too long"). copyd copies everything else, names that folder
// and the cause in the log, and exits 1 like any failed file (README:
// "1 some files failed"); with --delete it then deletes nothing (a folder
// it could not read would look empty). The daemon warns, retries, keeps
// running, and copies other changes.
func TestHostileBeyondPathMax(t *testing.T) {
	t.Parallel()
	chain, leaf := longChain(20), "leaf.txt"
	tree := map[string]string{"ok/a.txt": "a", "ok/sub/b.txt": "b"}
	tests := []struct {
		name  string
		flags []string
		stale bool // a destination file the source lacks, which --delete must keep
	}{
		{"sync", nil, false},
		{"sync --delete", []string{"--delete"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, src, dst := dirs(t, tree)
			mkdirBeyondPathMax(t, src, append([]string{"deep"}, chain...), leaf, "unreachable by path")
			if tt.stale {
				write(t, filepath.Join(dst, "ok/stale.txt"), "stale")
			}
			bad, n := firstTooLong(t, src, "deep", chain)
			r := copyd(t, append(append([]string{"sync", "--progress", "never"}, tt.flags...), src, dst)...)
			if r.code != 1 {
				t.Errorf("want exit 1 (a folder failed), got %s", r)
			}
			if copied, _, failed := summary(t, r); copied != 2 || failed != 1 {
				t.Errorf("copied %d, failed %d; want 2, 1", copied, failed)
			}
			want := `level=ERROR msg="read folder failed" pair=src path=` + bad +
				` err="open ` + filepath.Join(src, bad) + `: file name too long"`
			if !strings.Contains(r.stderr, want) {
				t.Errorf("no line containing\n%.200s…\nin the log:\n%s", want, r.stderr)
			}
			if strings.Count(r.stderr, "level=ERROR") != 1+btoi(tt.stale) {
				t.Errorf("want the failure logged once (and the delete brake once with --delete):\n%s", r.stderr)
			}
			if tt.stale {
				if !strings.Contains(r.stderr, `msg="deleting nothing: a source folder could not be read`) {
					t.Errorf("no delete brake in the log:\n%s", r.stderr)
				}
				assertContent(t, filepath.Join(dst, "ok/stale.txt"), "stale")
			}
			treetest.AssertTreesEqual(t, filepath.Join(src, "ok"), filepath.Join(dst, "ok"), "stale.txt")
			if err := chainPrefix(dst, "deep", chain, n); err != nil {
				t.Error(err)
			}
			assertNoTemps(t, dst)
		})
	}
	t.Run("run", func(t *testing.T) {
		t.Parallel()
		_, src, dst := dirs(t, tree)
		mkdirBeyondPathMax(t, src, append([]string{"deep"}, chain...), leaf, "unreachable by path")
		bad, n := firstTooLong(t, src, "deep", chain)
		d := runPaths(t, src, dst, "--delete")
		too := []string{"file name too long"}
		d.waitLog(0, match{level: "WARN", msg: "cannot watch folder", text: too, attrs: map[string]string{"path": bad}})
		d.waitLog(0, match{level: "WARN", msg: "read folder failed; will retry", text: too, attrs: map[string]string{
			"path": bad, "err": "open " + filepath.Join(src, bad) + ": file name too long",
		}})
		d.waitLog(0, match{level: "INFO", msg: "watching", attrs: map[string]string{"failed": "1"}})
		// The same chain made while the daemon runs.
		since := d.mark()
		mkdirBeyondPathMax(t, src, append([]string{"live"}, chain...), leaf, "unreachable by path")
		bad2, n2 := firstTooLong(t, src, "live", chain)
		d.waitLog(since, match{level: "WARN", msg: "read folder failed; will retry", text: too, attrs: map[string]string{"path": bad2}})
		// Other changes still arrive, deletions included.
		write(t, filepath.Join(src, "ok/after.txt"), "after")
		remove(t, filepath.Join(src, "ok/sub/b.txt"))
		d.waitFor(converged, func() error {
			return treetest.Compare(filepath.Join(src, "ok"), filepath.Join(dst, "ok"))
		})
		d.waitFor(converged, func() error {
			return errors.Join(chainPrefix(dst, "deep", chain, n), chainPrefix(dst, "live", chain, n2))
		})
		d.stopOK(syscall.SIGTERM)
		for _, l := range d.log.lines() {
			if l.get("level") == "ERROR" {
				t.Errorf("unexpected error line: %.300s", l.raw)
			}
		}
		assertNoTemps(t, dst)
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// A link farm holds farmInodes files, each under farmNames names spread
// over farmDirs folders.
const (
	farmInodes = 40
	farmNames  = 10
	farmDirs   = 5
)

// farmName is name j of inode i.
func farmName(i, j int) string { return fmt.Sprintf("d%d/i%02d-n%d", j%farmDirs, i, j) }

// makeLinkFarm makes a link farm in src; its files differ in content, mode
// and mtime.
func makeLinkFarm(t *testing.T, src string) {
	t.Helper()
	modes := []fs.FileMode{0o644, 0o600, 0o755, 0o640}
	for i := range farmInodes {
		first := filepath.Join(src, farmName(i, 0))
		write(t, first, strings.Repeat(fmt.Sprintf("inode %02d\n", i), i+1))
		chmod(t, first, modes[i%len(modes)])
		mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(first, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		for j := 1; j < farmNames; j++ {
			p := filepath.Join(src, farmName(i, j))
			mkdir(t, filepath.Dir(p))
			if err := os.Link(first, p); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// assertSeparateFiles fails unless every file under dst has one link: copyd
// copies each name of a hard-linked file as a file of its own.
func assertSeparateFiles(t *testing.T, dst string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if links := fi.Sys().(*syscall.Stat_t).Nlink; links != 1 {
			t.Errorf("%s has %d links, want 1", p, links)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != farmInodes*farmNames {
		t.Errorf("%d files in the destination, want %d", n, farmInodes*farmNames)
	}
}

// TestHostileHardLinkFarm copies 40 files with 10 names each: every name
// becomes a file of its own with the same content, mode and mtime
// (docs/comparison.md). While the daemon runs, a change made through one
// name changes every name of that file in the source, so every one of them
// must be updated in the destination.
func TestHostileHardLinkFarm(t *testing.T) {
	t.Parallel()
	t.Run("sync", func(t *testing.T) {
		t.Parallel()
		_, src, dst := dirs(t, nil)
		makeLinkFarm(t, src)
		r := copyd(t, "sync", "--progress", "never", src, dst)
		if copied, _, failed := summary(t, r); r.code != 0 || copied != farmInodes*farmNames || failed != 0 {
			t.Fatalf("sync: want exit 0, %d copied; got %s", farmInodes*farmNames, r)
		}
		treetest.AssertTreesEqual(t, src, dst)
		assertSeparateFiles(t, dst)
		r = copyd(t, "sync", "--progress", "never", src, dst)
		if _, upToDate, _ := summary(t, r); r.code != 0 || upToDate != farmInodes*farmNames {
			t.Errorf("second sync: want every name up to date; got %s", r)
		}
	})
	const victim = 7 // the inode the live cases change through its name 0
	one := farmName(victim, 0)
	tests := []struct {
		name   string
		flags  []string
		change func(t *testing.T, src string)
		old    []string // names gone from the source that stay in the destination
	}{
		{name: "append through one name", change: func(t *testing.T, src string) {
			appendTo(t, filepath.Join(src, one), "appended through one name\n")
		}},
		{name: "rewrite in place through one name", change: func(t *testing.T, src string) {
			f, err := os.OpenFile(filepath.Join(src, one), os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteString("rewritten in place")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
		}},
		{name: "rewrite same size with mtime restored through one name", change: func(t *testing.T, src string) {
			// README: a file written in place is copied even when its size
			// and mtime look unchanged; every name was written in place.
			p := filepath.Join(src, one)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteString(strings.Repeat("X", int(fi.Size())))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "chmod through one name", change: func(t *testing.T, src string) {
			chmod(t, filepath.Join(src, one), 0o700)
		}},
		{name: "touch through one name", change: func(t *testing.T, src string) {
			mtime := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
			if err := os.Chtimes(filepath.Join(src, one), mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "rename one name", flags: []string{"--delete"}, change: func(t *testing.T, src string) {
			rename(t, filepath.Join(src, one), filepath.Join(src, "d4/renamed"))
		}},
		{name: "rename one name without delete", change: func(t *testing.T, src string) {
			rename(t, filepath.Join(src, one), filepath.Join(src, "d4/renamed"))
		}, old: []string{one}},
		{name: "delete one name", flags: []string{"--delete"}, change: func(t *testing.T, src string) {
			remove(t, filepath.Join(src, one))
		}},
	}
	for _, tt := range tests {
		t.Run("run/"+tt.name, func(t *testing.T) {
			t.Parallel()
			_, src, dst := dirs(t, nil)
			makeLinkFarm(t, src)
			d := runPaths(t, src, dst, tt.flags...)
			d.converge(src, dst)
			assertSeparateFiles(t, dst)
			before, err := os.ReadFile(filepath.Join(dst, farmName(victim, 1)))
			if err != nil {
				t.Fatal(err)
			}
			tt.change(t, src)
			d.finish(src, dst, tt.old...)
			for _, rel := range tt.old {
				assertContent(t, filepath.Join(dst, rel), string(before))
			}
		})
	}
}

// TestHostileSymlinks runs the daemon on symlink loops (copied as links,
// never followed, no hang) and on a destination whose folders and files
// are symlinks to places outside it: copyd replaces them with real folders
// and files and never writes through them.
func TestHostileSymlinks(t *testing.T) {
	t.Parallel()
	loops := map[string]string{ // link → target
		"loop/a":         "b",
		"loop/b":         "a",
		"loop/up":        "..",
		"loop/self":      ".",
		"loop/deep/back": "../..",
		"loop/deep/abs":  "", // the source root, absolute; filled in below
		"dangling":       "does/not/exist",
	}
	symlinks := func(t *testing.T, root, top string) {
		t.Helper()
		for link, target := range loops {
			p := filepath.Join(root, top, link)
			mkdir(t, filepath.Dir(p))
			if target == "" {
				target = root
			}
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("loops", func(t *testing.T) {
		t.Parallel()
		_, src, dst := dirs(t, map[string]string{"a.txt": "a"})
		symlinks(t, src, "")
		d := runPaths(t, src, dst, "--delete")
		// Real folders only: ".", loop, loop/deep. A followed link would
		// add watches, or never end.
		d.waitLog(0, match{msg: "watching", attrs: map[string]string{"watches": "3"}})
		d.converge(src, dst)
		symlinks(t, src, "live") // a new folder full of loops
		d.converge(src, dst)
		rename(t, filepath.Join(src, "live"), filepath.Join(src, "moved"))
		remove(t, filepath.Join(src, "loop/up"))
		write(t, filepath.Join(src, "sentinel"), "after the loops")
		d.finish(src, dst)
	})
	// dst/sub, dst/later and dst/f.txt are symlinks to outside the
	// destination where the source has a folder, a folder made later and a
	// file.
	for _, mode := range []struct {
		name  string
		sync  bool
		flags []string
	}{
		{"sync", true, nil},
		{"sync --delete", true, []string{"--delete"}},
		{"run", false, nil},
		{"run --delete", false, []string{"--delete"}},
	} {
		t.Run("outward links/"+mode.name, func(t *testing.T) {
			t.Parallel()
			base, src, dst := dirs(t, map[string]string{
				"sub/a.txt":          "a",
				"sub/deeper/b.txt":   "b",
				"f.txt":              "mine",
				"keep.txt":           "keep",
				"later/.placeholder": "", // removed below for run: made live
			})
			outside := filepath.Join(base, "outside")
			mkdir(t, outside)
			secret := filepath.Join(base, "secret.txt")
			write(t, secret, "not yours")
			mkdir(t, dst)
			for link, target := range map[string]string{"sub": outside, "later": outside, "f.txt": secret} {
				if err := os.Symlink(target, filepath.Join(dst, link)); err != nil {
					t.Fatal(err)
				}
			}
			assertOutsideUntouched := func() {
				t.Helper()
				if entries, err := os.ReadDir(outside); err != nil || len(entries) != 0 {
					t.Errorf("outside folder: %d entries (%v), want it empty", len(entries), err)
				}
				assertContent(t, secret, "not yours")
			}
			if mode.sync {
				r := copyd(t, append(append([]string{"sync", "--progress", "never"}, mode.flags...), src, dst)...)
				if r.code != 0 {
					t.Errorf("want exit 0, got %s", r)
				}
				treetest.AssertTreesEqual(t, src, dst)
				assertOutsideUntouched()
				return
			}
			remove(t, filepath.Join(src, "later"))
			d := runPaths(t, src, dst, mode.flags...)
			// "later" is still a symlink in the destination: the source
			// lacks it, and only --delete would remove it.
			d.converge(src, dst, "later")
			assertOutsideUntouched()
			writeTree(t, src, map[string]string{
				"sub/new.txt":        "new in sub",
				"sub/deeper/new.txt": "new deeper",
				"later/c.txt":        "c",
				"later/d/e.txt":      "e",
			})
			appendTo(t, filepath.Join(src, "f.txt"), ", edited")
			d.finish(src, dst)
			assertOutsideUntouched()
		})
	}
}

// hostileNames are names made while the daemon runs: they must arrive,
// and every log line about them must stay one line.
var hostileNames = []string{
	"new\nline.txt",
	"carriage\rreturn.txt",
	"tab\tand trailing space ",
	"bad\xff\xfeutf8.txt",
	"latin1 caf\xe9.txt",
	"\x1b[31mterminal escape\x1b[0m\a",
	`quote" and=equals`,
	"-starts with a dash",
	strings.Repeat("n", 255),
	strings.Repeat("教", 85), // 255 bytes
	strings.Repeat("é", 127) + "\xff",
	"dir\nwith newline/inner\x80file",
	strings.Repeat("d", 255) + "/" + strings.Repeat("f", 255),
	"forged\n{\"level\":\"ERROR\",\"msg\":\"forged\"}",
	"forged\ntime=2026-01-01T00:00:00Z level=ERROR msg=forged",
}

// textLineRE is the start of every text log line.
var textLineRE = regexp.MustCompile(`^time=\S+ level=(DEBUG|INFO|WARN|ERROR) msg=`)

// slogAttr returns key=value as the slog handler of format writes it, to
// find it in the daemon's output.
func slogAttr(format, key, value string) string {
	var b bytes.Buffer
	drop := func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key != key {
			return slog.Attr{}
		}
		return a
	}
	opts := &slog.HandlerOptions{ReplaceAttr: drop}
	msg, args := "", []any{key, value}
	if key == slog.MessageKey {
		msg, args = value, nil
	}
	if format == "json" {
		slog.New(slog.NewJSONHandler(&b, opts)).Info(msg, args...)
		return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(b.String()), "{"), "}")
	}
	slog.New(slog.NewTextHandler(&b, opts)).Info(msg, args...)
	return strings.TrimSpace(b.String())
}

// TestHostileNames creates files with hostile names while the daemon runs
// (with per-file debug lines) and edits them: they arrive, 255-byte names
// included (their temp names are cut to fit), and the log stays one record
// per line in both formats (JSON parses, text quotes the names), in valid
// UTF-8 without a control character a terminal would obey.
func TestHostileNames(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			_, src, dst := dirs(t, map[string]string{"plain.txt": "plain"})
			d := startRun(t, nil, "--log-format", format, "--log-level", "debug", "--settle", "50ms", src, dst)
			d.waitFor(logWait, func() error {
				if !strings.Contains(d.log.String(), slogAttr(format, "msg", "watching")) {
					return errors.New("no watching line yet")
				}
				return nil
			})
			d.converge(src, dst)
			for i, rel := range hostileNames {
				write(t, filepath.Join(src, rel), fmt.Sprintf("file %d", i))
			}
			d.converge(src, dst)
			for _, rel := range hostileNames {
				appendTo(t, filepath.Join(src, rel), ", edited")
			}
			d.converge(src, dst)
			if code := d.stop(syscall.SIGTERM); code != 0 {
				t.Errorf("copyd exited with code %d after SIGTERM, want 0", code)
			}
			treetest.AssertTreesEqual(t, src, dst)
			assertNoTemps(t, dst)

			out := d.log.String()
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			for _, l := range lines {
				var bad bool
				if format == "json" {
					bad = !json.Valid([]byte(l))
				} else {
					bad = !textLineRE.MatchString(l)
				}
				if bad {
					t.Errorf("log line is not one whole %s record: %q", format, l)
				}
				if !utf8.ValidString(l) || strings.ContainsFunc(l, unicode.IsControl) {
					t.Errorf("log line has invalid UTF-8 or a control character: %q", l)
				}
				if strings.Contains(l, "forged") && !strings.Contains(l, "path=") && !strings.Contains(l, `"path":`) {
					t.Errorf("a file name forged a log line: %q", l)
				}
			}
			if !strings.Contains(out, slogAttr(format, "msg", "stopped")) {
				t.Errorf("no stopped line in the log")
			}
			for _, rel := range hostileNames {
				want := slogAttr(format, "path", rel)
				if !slices.ContainsFunc(lines, func(l string) bool {
					return strings.Contains(l, slogAttr(format, "msg", "copied")) && strings.Contains(l, want)
				}) {
					t.Errorf("no copied line with %s", want)
				}
			}
		})
	}
}
