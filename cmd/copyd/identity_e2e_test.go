//go:build linux

package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/copyd/copyd/internal/treetest"
)

// Identity regressions: the right name must never hold the wrong bytes.
//
// A copier that calls a file unchanged when its size and modification time
// match is fooled by every change below, because each keeps both: a swap of
// two files, a rename chain, renameat2(RENAME_EXCHANGE), an in-place
// rewrite that restores the mtime (touch -r, tar -x, cp -p), rsync -a -I of
// a look-alike release, tar -x of a reproducible build (one mtime for every
// file), and a folder replaced by a look-alike. Names and sizes come out
// right; the bytes do not. So after convergence every test compares the
// sha256 of every destination file with its source's (idrDiff, which
// names whose bytes a wrong file holds), and then the whole tree as
// treetest.Compare defines it.
// Helpers carry the prefix idr (identity regression).
//
// Daemon tests wait with idrWait: it polls like daemon.converge but
// gives up once the destination has stayed the same for idrQuiet while
// still wrong. A daemon that is done with a change does not repair it before
// the hourly rescan, and this keeps a failing test from waiting out the
// whole deadline; a correct copyd changes the destination within about a
// second (settle, then at most the one-second move window).

// idrMtime is the modification time of every entry the tests write,
// so that equal sizes mean equal size and mtime.
var idrMtime = time.Unix(1700000000, 0)

const (
	idrDeadline = 20 * time.Second // for a change to arrive
	idrQuiet    = 5 * time.Second  // a wrong destination that stays like this has given up
)

// idrCase is a change that keeps the size and mtime of every file.
type idrCase struct {
	name   string
	tree   map[string]string                    // the source before; every entry gets idrMtime
	change func(t *testing.T, base, src string) // base holds src, and room for other folders
}

var (
	idrSwap = idrCase{
		name: "swap",
		tree: map[string]string{"a.bin": idrFill("a", 4096), "b.bin": idrFill("b", 4096), "sub/keep.txt": "keep"},
		change: func(t *testing.T, _, src string) {
			a, b, tmp := filepath.Join(src, "a.bin"), filepath.Join(src, "b.bin"), filepath.Join(src, "swap.tmp")
			rename(t, a, tmp)
			rename(t, b, a)
			rename(t, tmp, b)
		},
	}
	idrChain = idrCase{
		name: "rename chain",
		tree: map[string]string{"a": idrFill("a", 1000), "b": idrFill("b", 1000), "c": idrFill("c", 1000)},
		change: func(t *testing.T, _, src string) {
			p := func(name string) string { return filepath.Join(src, name) }
			rename(t, p("a"), p("t")) // a→b→c→a: a holds c, b holds a, c holds b
			rename(t, p("c"), p("a"))
			rename(t, p("b"), p("c"))
			rename(t, p("t"), p("b"))
		},
	}
	idrExchangeFiles = idrCase{
		name: "exchange files",
		tree: map[string]string{"a.bin": idrFill("a", 4096), "b.bin": idrFill("b", 4096)},
		change: func(t *testing.T, _, src string) {
			idrExchange(t, filepath.Join(src, "a.bin"), filepath.Join(src, "b.bin"))
		},
	}
	idrRewrite = idrCase{
		name: "rewrite restoring mtime",
		tree: map[string]string{"f.txt": idrFill("old ", 512), "other.txt": "other"},
		change: func(t *testing.T, _, src string) {
			idrRewriteKeepingMtime(t, filepath.Join(src, "f.txt"), idrFill("new ", 512))
		},
	}
	idrRsync = idrCase{
		name: "rsync -a -I release",
		tree: idrRelease("v1"),
		change: func(t *testing.T, base, src string) {
			if _, err := exec.LookPath("rsync"); err != nil {
				t.Skip("rsync is not on PATH; install it to run this case (CI does)")
			}
			next := filepath.Join(base, "release-v2")
			mkdir(t, next)
			idrTree(t, next, idrRelease("v2"))
			idrCmd(t, "rsync", "-a", "-I", next+"/", src+"/")
		},
	}
	idrTar = idrCase{
		name: "tar -x reproducible release",
		tree: idrRelease("v1"),
		change: func(t *testing.T, base, src string) {
			idrCmd(t, "tar", "-C", src, "-xf", idrTarball(t, base, "v2", idrRelease("v2")))
		},
	}
	idrFolderReplaced = idrCase{
		name: "folder replaced by a look-alike",
		tree: idrAlbum("take 1"),
		change: func(t *testing.T, base, src string) {
			incoming := filepath.Join(base, "incoming")
			mkdir(t, incoming)
			idrTree(t, incoming, idrAlbum("take 2"))
			rename(t, filepath.Join(src, "album"), filepath.Join(base, "old-album"))
			rename(t, filepath.Join(incoming, "album"), filepath.Join(src, "album"))
		},
	}
)

func TestIdentitySyncTwice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tc    idrCase
		flags []string
	}{
		{idrSwap, nil},
		{idrSwap, []string{"--delete"}},
		{idrChain, []string{"--delete"}},
		{idrExchangeFiles, nil},
		{idrRewrite, nil},
		{idrRewrite, []string{"--delete"}},
		{idrRsync, nil},
		{idrTar, nil},
	}
	for _, tt := range tests {
		t.Run(idrCaseName(tt.tc, tt.flags), func(t *testing.T) {
			t.Parallel()
			base, src, dst := dirs(t, tt.tc.tree)
			idrStamp(t, src)
			idrSync(t, src, dst, tt.flags...)
			if err := idrDiff(src, dst, nil); err != nil {
				t.Fatalf("after the first sync: %v", err)
			}
			before := idrHashFiles(t, src)
			tt.tc.change(t, base, src)
			idrSync(t, src, dst, tt.flags...)
			if err := idrDiff(src, dst, before); err != nil {
				t.Errorf("%s, then a second sync: %v", tt.tc.name, err)
			}
			assertNoTemps(t, dst)
		})
	}
}

func TestIdentityRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tc    idrCase
		flags []string
	}{
		{idrSwap, nil},
		{idrSwap, []string{"--delete"}},
		{idrChain, []string{"--delete"}},
		{idrExchangeFiles, nil},
		{idrExchangeFiles, []string{"--delete"}},
		{idrRsync, []string{"--delete"}},
		{idrFolderReplaced, []string{"--delete"}},
	}
	for _, tt := range tests {
		t.Run(idrCaseName(tt.tc, tt.flags), func(t *testing.T) {
			t.Parallel()
			base, src, dst := dirs(t, tt.tc.tree)
			idrStamp(t, src)
			d := runPaths(t, src, dst, tt.flags...)
			d.converge(src, dst)
			before := idrHashFiles(t, src)
			tt.tc.change(t, base, src)
			if err := idrWaitTree(d, src, dst, before); err != nil {
				t.Fatalf("%s: %v", tt.tc.name, err)
			}
			d.finish(src, dst)
		})
	}
}

// TestIdentityRunTarRelease extracts a version bump of a reproducible
// build (same names, sizes and mtime; other bytes) over the release in the
// watched source, where the change reaches copyd as a folder scan rather
// than as one event per file.
func TestIdentityRunTarRelease(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		files    int
		overflow bool // the events are lost: the change arrives by a rescan
	}{
		// More than 256 pending files in one folder roll up into one scan
		// of that folder.
		{"300 files in one folder", 300, false},
		{"after lost events", 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			version := func(v string) map[string]string {
				tree := map[string]string{"VERSION": v}
				for i := range tt.files {
					tree[fmt.Sprintf("pkg/f%03d.go", i)] = idrFill(fmt.Sprintf("package %s // file %03d\n", v, i), 200+i)
				}
				return tree
			}
			base, src, dst := dirs(t, nil)
			idrCmd(t, "tar", "-C", src, "-xf", idrTarball(t, base, "v1", version("v1")))
			var env []string
			if tt.overflow {
				env = []string{"COPYD_TEST_OVERFLOW=OVERFLOW"}
			}
			// A settle time longer than tar takes keeps every path pending
			// at once, so that the 300 roll up.
			d := startRun(t, env, "--log-format", "json", "--settle", "1s", src, dst)
			d.waitWatching("src")
			d.converge(src, dst)
			tarball := idrTarball(t, base, "v2", version("v2"))
			before := idrHashFiles(t, src)
			since := d.mark()
			if tt.overflow {
				write(t, filepath.Join(src, "OVERFLOW"), "") // every event from here on is lost
			}
			idrCmd(t, "tar", "-C", src, "-xf", tarball)
			if tt.overflow {
				remove(t, filepath.Join(src, "OVERFLOW"))
				d.waitLog(since, match{level: "WARN", msg: "events lost, rescanning"})
			}
			if err := idrWaitTree(d, src, dst, before); err != nil {
				t.Fatalf("after tar -x of the next release: %v", err)
			}
			d.finish(src, dst)
		})
	}
}

// TestIdentityRunGoTree removes one folder and renames another in the same
// instant, where files of both share size and mtime (as testdata of a Go
// source tree do): a rename guessed from size and mtime must not put the
// deleted folder's bytes under the moved folder's names.
func TestIdentityRunGoTree(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{
		"x509/testdata/README":          idrFill("x509 testdata readme\n", 300),
		"x509/testdata/cert.pem":        idrFill("-----BEGIN CERTIFICATE-----\n", 1200),
		"x509/testdata/key.pem":         idrFill("-----BEGIN PRIVATE KEY-----\n", 777),
		"untar/encoding/json/README":    idrFill("json testdata readme\n", 300), // name, size and mtime of x509's
		"untar/encoding/json/data.json": idrFill(`{"k": "v"}`+"\n", 1200),       // size and mtime of cert.pem
		"untar/encoding/json/big.json":  idrFill(`[1, 2, 3]`+"\n", 5000),
		"untar/reader.go":               idrFill("package untar\n", 1200), // size and mtime of cert.pem
		"keep.txt":                      "keep",
	})
	idrStamp(t, src)
	d, _ := runMirrored(t, src, dst)
	before := idrHashFiles(t, src)
	remove(t, filepath.Join(src, "x509"))
	rename(t, filepath.Join(src, "untar"), filepath.Join(src, "untar-moved"))
	if err := idrWaitTree(d, src, dst, before); err != nil {
		t.Fatalf("after rm -rf x509 and mv untar untar-moved: %v", err)
	}
	assertAbsent(t, filepath.Join(dst, "x509"))
	d.finish(src, dst)
}

// TestIdentityRunExchangeFolders swaps two look-alike folders with
// renameat2(RENAME_EXCHANGE): their contents must follow. (That the
// watches follow too, so that files written into them afterwards arrive
// without a rescan, is the watcher's part: fsnotify files the exchanged
// watches under the wrong paths.)
func TestIdentityRunExchangeFolders(t *testing.T) {
	t.Parallel()
	for _, flags := range [][]string{nil, {"--delete"}} {
		t.Run(idrCaseName(idrCase{name: "exchange folders"}, flags), func(t *testing.T) {
			t.Parallel()
			_, src, dst := dirs(t, map[string]string{
				"A/f.txt":     idrFill("A", 100),
				"A/sub/g.txt": idrFill("A-g", 50),
				"B/f.txt":     idrFill("B", 100),
				"B/sub/g.txt": idrFill("B-g", 50),
				"keep.txt":    "keep",
			})
			idrStamp(t, src)
			d := runPaths(t, src, dst, flags...)
			d.converge(src, dst)
			before := idrHashFiles(t, src)
			idrExchange(t, filepath.Join(src, "A"), filepath.Join(src, "B"))
			if err := idrWaitTree(d, src, dst, before); err != nil {
				t.Errorf("after exchanging A and B: %v", err)
			}
			if !t.Failed() {
				d.finish(src, dst)
			}
		})
	}
}

// TestIdentityRunFolderOverEmptyFolder renames a folder over an empty one
// (mv -T A B): B must get A's files. (B's watch becoming A's is the
// watcher's part, as for the exchange.)
func TestIdentityRunFolderOverEmptyFolder(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{
		"A/1.txt":     idrFill("one ", 100),
		"A/2.txt":     idrFill("two ", 100),
		"A/sub/3.txt": idrFill("three ", 100),
		"keep.txt":    "keep",
	})
	mkdir(t, filepath.Join(src, "B"))
	idrStamp(t, src)
	d, _ := runMirrored(t, src, dst)
	before := idrHashFiles(t, src)
	// os.Rename refuses to replace a folder; rename(2) replaces an empty one.
	if err := unix.Rename(filepath.Join(src, "A"), filepath.Join(src, "B")); err != nil {
		t.Fatal(err)
	}
	if err := idrWaitTree(d, src, dst, before); err != nil {
		t.Fatalf("after mv -T A B: %v", err)
	}
	d.finish(src, dst)
}

// idrCaseName names a subtest after its change and flags.
func idrCaseName(tc idrCase, flags []string) string {
	if len(flags) == 0 {
		return tc.name
	}
	return tc.name + " " + strings.Join(flags, " ")
}

// idrFill returns n bytes of s repeated, so that files filled from different
// strings can have equal sizes.
func idrFill(s string, n int) string { return strings.Repeat(s, n/len(s)+1)[:n] }

// idrRelease is a small software release whose files have the same names and
// sizes in every version, and other bytes.
func idrRelease(v string) map[string]string {
	return map[string]string{
		"bin/tool":             idrFill("tool "+v+" ", 3000),
		"lib/libtool.so":       idrFill("elf "+v+" ", 8192),
		"share/doc/README":     idrFill("readme "+v+" ", 700),
		"share/doc/CHANGELOG":  idrFill("changes "+v+" ", 700),
		"share/locale/de/tool": idrFill("werkzeug "+v+" ", 256),
	}
}

// idrAlbum is a folder of the same names and sizes for every take.
func idrAlbum(take string) map[string]string {
	return map[string]string{
		"album/01.flac":   idrFill("track 1 "+take+" ", 5000),
		"album/02.flac":   idrFill("track 2 "+take+" ", 5000),
		"album/cover.jpg": idrFill("cover "+take+" ", 900),
		"other.txt":       "other",
	}
}

// idrSync runs `copyd sync` once and fails the test unless it exits 0.
func idrSync(t *testing.T, src, dst string, flags ...string) {
	t.Helper()
	args := append(append([]string{"sync", "--progress", "never", "--fsync=false"}, flags...), src, dst)
	if r := copyd(t, args...); r.code != 0 {
		t.Fatalf("copyd %q: %s", args, r)
	}
}

// idrCmd runs a command (tar, rsync) and fails the test if it fails.
func idrCmd(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.CommandContext(t.Context(), name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
}

// idrTree writes tree under dir and gives everything under dir
// idrMtime.
func idrTree(t *testing.T, dir string, tree map[string]string) {
	t.Helper()
	writeTree(t, dir, tree)
	idrStamp(t, dir)
}

// idrStamp gives every file and folder under dir, dir too, idrMtime.
func idrStamp(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, idrMtime, idrMtime)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// idrTarball packs tree with the real tar as a reproducible build
// does (sorted, one owner, every entry at idrMtime) and returns the
// tarball's path, in dir.
func idrTarball(t *testing.T, dir, name string, tree map[string]string) string {
	t.Helper()
	stage := filepath.Join(dir, "stage-"+name)
	mkdir(t, stage)
	writeTree(t, stage, tree)
	tarball := filepath.Join(dir, name+".tar")
	idrCmd(t, "tar", "--sort=name", fmt.Sprintf("--mtime=@%d", idrMtime.Unix()),
		"--owner=0", "--group=0", "--numeric-owner", "-C", stage, "-cf", tarball, ".")
	return tarball
}

// idrRewriteKeepingMtime writes content (of the old length) into the file p in
// place and then restores its mtime, as touch -r, tar -x and cp -p leave it.
func idrRewriteKeepingMtime(t *testing.T, p, content string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(content)) != fi.Size() {
		t.Fatalf("rewrite of %s with %d bytes, want %d", p, len(content), fi.Size())
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// idrExchange swaps the paths a and b atomically (renameat2 RENAME_EXCHANGE).
func idrExchange(t *testing.T, a, b string) {
	t.Helper()
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		t.Skipf("renameat2(RENAME_EXCHANGE) is not supported here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// idrHashFiles returns the sha256 of every regular file under root, by
// slash-separated path.
func idrHashFiles(t *testing.T, root string) map[string][32]byte {
	t.Helper()
	h, err := idrReadHashes(root)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// idrReadHashes is idrHashFiles for polling: files that vanish during the walk
// are left out, and errors are returned.
func idrReadHashes(root string) (map[string][32]byte, error) {
	tree, err := treetest.ReadTree(root)
	if err != nil {
		return nil, err
	}
	h := map[string][32]byte{}
	for rel, e := range tree {
		if e.Type == 0 {
			h[rel] = sha256.Sum256(e.Content)
		}
	}
	return h, nil
}

// idrDiff returns nil when every regular file of src has a namesake
// in dst with the same bytes (by sha256) and dst then matches src as
// treetest.Compare defines it; otherwise an error that lists the files
// holding wrong bytes first, with whose bytes they hold (a file of the
// source now, or one as it was in before, the source's hashes before the
// change).
func idrDiff(src, dst string, before map[string][32]byte) error {
	want, err := idrReadHashes(src)
	if err != nil {
		return fmt.Errorf("read source: %w", err)
	}
	got, err := idrReadHashes(dst)
	if err != nil {
		return fmt.Errorf("read destination: %w", err)
	}
	whose := func(h [32]byte) string {
		for _, rel := range slices.Sorted(maps.Keys(want)) {
			if want[rel] == h {
				return fmt.Sprintf("the bytes of source %q", rel)
			}
		}
		for _, rel := range slices.Sorted(maps.Keys(before)) {
			if before[rel] == h {
				return fmt.Sprintf("the bytes source %q had before the change", rel)
			}
		}
		return "bytes the source never had"
	}
	var wrong []string
	for _, rel := range slices.Sorted(maps.Keys(want)) {
		switch g, ok := got[rel]; {
		case !ok:
			wrong = append(wrong, fmt.Sprintf("%q is missing", rel))
		case g != want[rel]:
			wrong = append(wrong, fmt.Sprintf("%q holds %s (sha256 %.6x…), want sha256 %.6x…", rel, whose(g), g, want[rel]))
		}
	}
	if len(wrong) == 0 {
		return treetest.Compare(src, dst)
	}
	const show = 10
	msg := strings.Join(wrong[:min(show, len(wrong))], "\n")
	if len(wrong) > show {
		msg += fmt.Sprintf("\n... and %d more of %d files", len(wrong)-show, len(want))
	}
	return fmt.Errorf("destination files hold the wrong bytes:\n%s", msg)
}

// idrWaitTree waits until dst holds src's bytes under every name and
// matches src (idrDiff); see idrWait.
func idrWaitTree(d *daemon, src, dst string, before map[string][32]byte) error {
	d.t.Helper()
	return idrWait(d, dst, func() error { return idrDiff(src, dst, before) })
}

// idrWait polls check until it returns nil, and returns nil. It
// returns check's error once dst has not changed for idrQuiet while
// check fails, and fails the test when idrDeadline passes first or
// copyd exits.
func idrWait(d *daemon, dst string, check func() error) error {
	d.t.Helper()
	var (
		gaveUp error
		last   map[string]treetest.Entry
		since  = time.Now()
	)
	d.waitFor(idrDeadline, func() error {
		err := check()
		if err == nil {
			return nil
		}
		now, rerr := treetest.ReadTree(dst)
		if rerr != nil || !idrSameTree(last, now) {
			last, since = now, time.Now()
			return err
		}
		if time.Since(since) >= idrQuiet {
			gaveUp = fmt.Errorf("the destination stayed like this for %v: %w", idrQuiet, err)
			return nil
		}
		return err
	})
	return gaveUp
}

// idrSameTree reports whether two listings of treetest.ReadTree are equal.
func idrSameTree(a, b map[string]treetest.Entry) bool {
	return a != nil && maps.EqualFunc(a, b, func(x, y treetest.Entry) bool {
		return x.Type == y.Type && x.Perm == y.Perm && x.Mtime.Equal(y.Mtime) && bytes.Equal(x.Content, y.Content)
	})
}

// TestIdentityDestinationRewritten: someone writes into the backup itself
// with the real cp -p, which rewrites the existing destination file in
// place (same inode) and puts its size and mtime back. Only the
// destination's ctime gives it away. The daemon's periodic rescan, which
// stats every destination file, must put the source's bytes back.
func TestIdentityDestinationRewritten(t *testing.T) {
	t.Parallel()
	tree := map[string]string{"f.txt": idrFill("source ", 4096), "keep.txt": "keep"}
	base, src, dst := dirs(t, tree)
	idrStamp(t, src)
	// A source changed within copyd's racy window (100 ms) of its copy
	// gets a racy record, which is compared on every pass anyway: let the
	// stamp age, so that only the destination's ctime can tell.
	time.Sleep(300 * time.Millisecond)
	d := runPaths(t, src, dst, "--rescan", "2s")
	d.converge(src, dst)

	intruder := filepath.Join(base, "intruder.txt")
	write(t, intruder, idrFill("intruder ", 4096))
	if err := os.Chtimes(intruder, idrMtime, idrMtime); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dst, "f.txt")
	before, err := os.Lstat(target)
	if err != nil {
		t.Fatal(err)
	}
	idrCmd(t, "cp", "-p", intruder, target)
	after, err := os.Lstat(target)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("cp -p did not rewrite %s in place keeping size and mtime (inode, size or mtime changed): the test no longer tests its case", target)
	}
	if err := idrWaitTree(d, src, dst, nil); err != nil {
		t.Fatalf("a destination file rewritten in place by cp -p: %v", err)
	}
	d.finish(src, dst)
}
