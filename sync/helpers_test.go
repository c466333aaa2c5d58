package sync

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/copyd/copyd/config"
)

// baseTime is the modification time writeTree gives every file, far enough
// in the past that any later write or touch yields a different one (the
// kernel's coarse clock can give two quick writes the same mtime).
var baseTime = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// writeTree creates the files of tree (slash-separated path → content)
// under dir with mode 0644 and mtime baseTime, and their parent folders.
func writeTree(t testing.TB, dir string, tree map[string]string) {
	t.Helper()
	for rel, content := range tree {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(rel)), content, 0o644, baseTime)
	}
}

// writeFile writes one file with the given mode and mtime, making its parents.
func writeFile(t testing.TB, path, content string, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile leaves an existing file's mode and obeys umask
		t.Fatal(err)
	}
	setMtime(t, path, mtime)
}

// symlink makes path a symlink to target, making path's parents.
func symlink(t testing.TB, target, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func mkdirAll(t testing.TB, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func setMtime(t testing.TB, path string, mtime time.Time) {
	t.Helper()
	if err := os.Chtimes(path, time.Time{}, mtime); err != nil {
		t.Fatal(err)
	}
}

func chmod(t testing.TB, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func removeAll(t testing.TB, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

// readFile returns the content of path, failing the test if it cannot.
func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lstat returns path's own FileInfo, failing the test if it cannot.
func lstat(t testing.TB, path string) fs.FileInfo {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func assertMissing(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errIsNotExist(err) {
		t.Errorf("%s exists (err %v), want it gone", path, err)
	}
}

func assertContent(t testing.TB, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("read %s: %v", path, err)
		return
	}
	if string(b) != want {
		t.Errorf("%s = %q, want %q", path, b, want)
	}
}

// tempRE matches anything that looks like a copyd temp file. It is looser
// than isTemp on purpose (and spans newlines in names), so that a bug in
// isTemp cannot hide a leftover.
var tempRE = regexp.MustCompile(`(?s)^\..*copyd-[0-9a-fA-F]+\.tmp$`)

// assertNoTemps fails the test if any copyd temp file is left under dir.
func assertNoTemps(t testing.TB, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errIsNotExist(err) && p == dir {
				return nil
			}
			return err
		}
		if tempRE.MatchString(d.Name()) {
			t.Errorf("temp file left behind: %q", p)
		}
		return nil
	})
	if err != nil {
		t.Errorf("walk %s: %v", dir, err)
	}
}

// treeEntry is what assertTreesEqual compares for one path.
type treeEntry struct {
	typ     fs.FileMode // fs.ModeType bits
	perm    fs.FileMode // permission, set-id and sticky bits
	mtime   time.Time   // files and folders only
	content []byte      // file content or symlink target text
}

func (e treeEntry) kind() string {
	switch {
	case e.typ&fs.ModeSymlink != 0:
		return "symlink"
	case e.typ.IsDir():
		return "folder"
	case e.typ == 0:
		return "file"
	}
	return "special " + e.typ.String()
}

// listTree lists everything under root (root itself as "."), never
// following symlinks.
func listTree(t testing.TB, root string) map[string]treeEntry {
	t.Helper()
	m := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := treeEntry{
			typ:  fi.Mode().Type(),
			perm: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			e.content = []byte(target)
			e.perm = 0 // a symlink's own mode means nothing on Linux
		case fi.IsDir():
			e.mtime = fi.ModTime()
		case fi.Mode().IsRegular():
			e.mtime = fi.ModTime()
			if e.content, err = os.ReadFile(p); err != nil {
				return err
			}
		}
		m[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", root, err)
	}
	return m
}

// under reports whether rel is one of paths or lies below one of them.
func under(rel string, paths []string) bool {
	for _, p := range paths {
		if rel == p || strings.HasPrefix(rel, p+"/") {
			return true
		}
	}
	return false
}

// assertTreesEqual fails the test unless dst holds what src holds: the same
// names and types, file contents, permission bits, modification times of
// files and folders (the roots included) and symlink target texts. Symlinks
// are never followed. Special files (FIFOs, sockets, devices) in src are
// never copied, so they must be absent from dst. Paths in ignore (and what
// lies below them) are skipped on both sides.
func assertTreesEqual(t testing.TB, src, dst string, ignore ...string) {
	t.Helper()
	want, got := listTree(t, src), listTree(t, dst)
	var names []string
	for rel := range want {
		names = append(names, rel)
	}
	slices.Sort(names)
	for _, rel := range names {
		w := want[rel]
		if under(rel, ignore) {
			continue
		}
		g, ok := got[rel]
		special := w.typ&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice|fs.ModeIrregular) != 0
		switch {
		case special && ok:
			t.Errorf("%q: special file copied as %s", rel, g.kind())
			continue
		case special:
			continue
		case !ok:
			t.Errorf("%q (%s) missing in destination", rel, w.kind())
			continue
		}
		if w.typ != g.typ {
			t.Errorf("%q is a %s, want a %s", rel, g.kind(), w.kind())
			continue
		}
		if w.perm != g.perm {
			t.Errorf("%q: mode %v, want %v", rel, g.perm, w.perm)
		}
		if !w.mtime.Equal(g.mtime) {
			t.Errorf("%q: mtime %v, want %v", rel, g.mtime, w.mtime)
		}
		if !bytes.Equal(w.content, g.content) {
			if w.typ&fs.ModeSymlink != 0 {
				t.Errorf("%q: symlink target %q, want %q", rel, g.content, w.content)
			} else {
				t.Errorf("%q: content differs (%d bytes, want %d)", rel, len(g.content), len(w.content))
			}
		}
	}
	var extra []string
	for rel := range got {
		if _, ok := want[rel]; !ok && !under(rel, ignore) {
			extra = append(extra, rel)
		}
	}
	slices.Sort(extra)
	for _, rel := range extra {
		t.Errorf("%q (%s) in destination but not in source", rel, got[rel].kind())
	}
}

// assertUnchanged fails the test if dir no longer matches the listing
// before (taken with listTree; delete "." from it to ignore the root).
func assertUnchanged(t testing.TB, before map[string]treeEntry, dir string) {
	t.Helper()
	after := listTree(t, dir)
	for rel, b := range before {
		a, ok := after[rel]
		switch {
		case !ok:
			t.Errorf("%q vanished", rel)
		case a.typ != b.typ || a.perm != b.perm || !a.mtime.Equal(b.mtime) || !bytes.Equal(a.content, b.content):
			t.Errorf("%q changed", rel)
		}
	}
	for rel := range after {
		if _, ok := before[rel]; !ok && rel != "." {
			t.Errorf("%q appeared", rel)
		}
	}
}

// newPair returns a pair named "test" with an existing, empty source folder
// and a destination that does not exist yet, both in a fresh temp dir.
func newPair(t testing.TB) config.Pair {
	t.Helper()
	base := t.TempDir()
	p := config.Pair{Name: "test", Source: filepath.Join(base, "src"), Destination: filepath.Join(base, "dst")}
	mkdirAll(t, p.Source)
	t.Cleanup(func() { makeRemovable(base) }) // runs before TempDir's RemoveAll
	return p
}

// makeRemovable gives the owner rwx on every folder under dir, so that the
// test's cleanup can remove what a test locked (as a non-root user).
func makeRemovable(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

// testOptions returns Sync options that log to the test's output.
func testOptions(t *testing.T) Options {
	return Options{
		Workers: 4,
		Log:     slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
}

// runSync runs Sync on pairs with testOptions and fails the test if it
// returns an error.
func runSync(t *testing.T, pairs ...config.Pair) Summary {
	t.Helper()
	sum, err := Sync(t.Context(), pairs, testOptions(t))
	if err != nil {
		t.Fatalf("Sync() error = %v", err)
	}
	return sum
}

// fsyncName names a subtest or benchmark by its fsync setting.
func fsyncName(on bool) string { return "fsync=" + strconv.FormatBool(on) }

// failureList formats Summary.Failures for an error message.
func failureList(list []*FileError) string {
	var b strings.Builder
	for _, f := range list {
		b.WriteString("\n\t")
		b.WriteString(f.Error())
	}
	return b.String()
}
