package treetest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// tempRE matches anything that looks like a copyd temp file. It is looser
// than tempname.Is on purpose (and spans newlines in names), so that a bug in
// tempname.Is cannot hide a leftover.
var tempRE = regexp.MustCompile(`(?s)^\..*copyd-[0-9a-fA-F]+\.tmp$`)

// AssertNoTemps fails the test if any copyd temp file is left under dir.
func AssertNoTemps(t testing.TB, dir string) {
	t.Helper()
	temps, err := Temps(dir)
	if err != nil {
		t.Errorf("walk %s: %v", dir, err)
	}
	for _, p := range temps {
		t.Errorf("temp file left behind: %q", p)
	}
}

// Temps returns the paths of the copyd temp files under dir (none when dir
// does not exist). Entries that vanish during the walk are skipped, so it
// can poll a destination that is being written.
func Temps(dir string) ([]string, error) {
	var temps []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if tempRE.MatchString(d.Name()) {
			temps = append(temps, p)
		}
		return nil
	})
	return temps, err
}

// Entry is what AssertTreesEqual compares for one path.
type Entry struct {
	Type    fs.FileMode // fs.ModeType bits
	Perm    fs.FileMode // permission, set-id and sticky bits
	Mtime   time.Time   // files and folders only
	Content []byte      // file content or symlink target text
}

func (e Entry) kind() string {
	switch {
	case e.Type&fs.ModeSymlink != 0:
		return "symlink"
	case e.Type.IsDir():
		return "folder"
	case e.Type == 0:
		return "file"
	}
	return "special " + e.Type.String()
}

// List lists everything under root (root itself as "."), never
// following symlinks. It fails the test if root cannot be read.
func List(t testing.TB, root string) map[string]Entry {
	t.Helper()
	m, err := ReadTree(root)
	if err != nil {
		t.Fatalf("list %s: %v", root, err)
	}
	return m
}

// ReadTree lists everything under root (root itself as "."), never
// following symlinks, and returns the first error met. An entry that
// vanishes between reading its folder and reading the entry is left out, so
// that a tree another process is changing (a destination being synced) can
// be read without spurious errors; such a listing may mix two states, and
// callers compare it again later rather than trusting one look.
func ReadTree(root string) (map[string]Entry, error) {
	m := map[string]Entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != root && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		e, err := readEntry(p, d)
		if p != root && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		m[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// readEntry reads what Entry records for the entry d at p.
func readEntry(p string, d fs.DirEntry) (Entry, error) {
	fi, err := d.Info()
	if err != nil {
		return Entry{}, err
	}
	e := Entry{
		Type: fi.Mode().Type(),
		Perm: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return Entry{}, err
		}
		e.Content = []byte(target)
		e.Perm = 0 // a symlink's own mode means nothing on Linux
	case fi.IsDir():
		e.Mtime = fi.ModTime()
	case fi.Mode().IsRegular():
		e.Mtime = fi.ModTime()
		if e.Content, err = os.ReadFile(p); err != nil {
			return Entry{}, err
		}
	}
	return e, nil
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

// AssertTreesEqual fails the test unless dst holds what src holds, as
// [Diff] defines it, reporting each difference; it fails at once if either
// tree cannot be read.
func AssertTreesEqual(t testing.TB, src, dst string, ignore ...string) {
	t.Helper()
	diffs, err := Diff(src, dst, ignore...)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
}

// Compare returns nil when dst holds what src holds, as [Diff] defines it,
// and otherwise an error naming the first differences (or the read error).
// It is meant for polling a destination that a daemon is still updating:
// treetest.WaitFor(t, d, func() error { return treetest.Compare(src, dst) }).
func Compare(src, dst string, ignore ...string) error {
	diffs, err := Diff(src, dst, ignore...)
	if err != nil {
		return err
	}
	if len(diffs) == 0 {
		return nil
	}
	const show = 10
	msg := strings.Join(diffs[:min(show, len(diffs))], "\n")
	if len(diffs) > show {
		msg += fmt.Sprintf("\n... and %d more differences", len(diffs)-show)
	}
	return fmt.Errorf("trees differ:\n%s", msg)
}

// Diff compares the trees under src and dst and returns their differences,
// one sentence each, sorted by path; none when dst holds what src holds: the
// same names and types, file contents, permission bits, modification times
// of files and folders (the roots included) and symlink target texts.
// Symlinks are never followed. Special files (FIFOs, sockets, devices) in
// src are never copied, so they must be absent from dst. Paths in ignore
// (and what lies below them) are skipped on both sides. The error is set
// only when a tree cannot be read (see [ReadTree]).
func Diff(src, dst string, ignore ...string) ([]string, error) {
	want, err := ReadTree(src)
	if err != nil {
		return nil, fmt.Errorf("read source tree: %w", err)
	}
	got, err := ReadTree(dst)
	if err != nil {
		return nil, fmt.Errorf("read destination tree: %w", err)
	}
	var diffs []string
	errorf := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
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
		special := w.Type&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeDevice|fs.ModeCharDevice|fs.ModeIrregular) != 0
		switch {
		case special && ok:
			errorf("%q: special file copied as %s", rel, g.kind())
			continue
		case special:
			continue
		case !ok:
			errorf("%q (%s) missing in destination", rel, w.kind())
			continue
		}
		if w.Type != g.Type {
			errorf("%q is a %s, want a %s", rel, g.kind(), w.kind())
			continue
		}
		if w.Perm != g.Perm {
			errorf("%q: mode %v, want %v", rel, g.Perm, w.Perm)
		}
		if !w.Mtime.Equal(g.Mtime) {
			errorf("%q: mtime %v, want %v", rel, g.Mtime, w.Mtime)
		}
		if !bytes.Equal(w.Content, g.Content) {
			if w.Type&fs.ModeSymlink != 0 {
				errorf("%q: symlink target %q, want %q", rel, g.Content, w.Content)
			} else {
				errorf("%q: content differs (%d bytes, want %d)", rel, len(g.Content), len(w.Content))
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
		errorf("%q (%s) in destination but not in source", rel, got[rel].kind())
	}
	return diffs, nil
}

// AssertUnchanged fails the test if dir no longer matches the listing
// before (taken with List; delete "." from it to ignore the root).
func AssertUnchanged(t testing.TB, before map[string]Entry, dir string) {
	t.Helper()
	after := List(t, dir)
	for rel, b := range before {
		a, ok := after[rel]
		switch {
		case !ok:
			t.Errorf("%q vanished", rel)
		case a.Type != b.Type || a.Perm != b.Perm || !a.Mtime.Equal(b.Mtime) || !bytes.Equal(a.Content, b.Content):
			t.Errorf("%q changed", rel)
		}
	}
	for rel := range after {
		if _, ok := before[rel]; !ok && rel != "." {
			t.Errorf("%q appeared", rel)
		}
	}
}
