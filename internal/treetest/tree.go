package treetest

import (
	"bytes"
	"errors"
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
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
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
// following symlinks.
func List(t testing.TB, root string) map[string]Entry {
	t.Helper()
	m := map[string]Entry{}
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
		e := Entry{
			Type: fi.Mode().Type(),
			Perm: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			e.Content = []byte(target)
			e.Perm = 0 // a symlink's own mode means nothing on Linux
		case fi.IsDir():
			e.Mtime = fi.ModTime()
		case fi.Mode().IsRegular():
			e.Mtime = fi.ModTime()
			if e.Content, err = os.ReadFile(p); err != nil {
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

// AssertTreesEqual fails the test unless dst holds what src holds: the same
// names and types, file contents, permission bits, modification times of
// files and folders (the roots included) and symlink target texts. Symlinks
// are never followed. Special files (FIFOs, sockets, devices) in src are
// never copied, so they must be absent from dst. Paths in ignore (and what
// lies below them) are skipped on both sides.
func AssertTreesEqual(t testing.TB, src, dst string, ignore ...string) {
	t.Helper()
	want, got := List(t, src), List(t, dst)
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
			t.Errorf("%q: special file copied as %s", rel, g.kind())
			continue
		case special:
			continue
		case !ok:
			t.Errorf("%q (%s) missing in destination", rel, w.kind())
			continue
		}
		if w.Type != g.Type {
			t.Errorf("%q is a %s, want a %s", rel, g.kind(), w.kind())
			continue
		}
		if w.Perm != g.Perm {
			t.Errorf("%q: mode %v, want %v", rel, g.Perm, w.Perm)
		}
		if !w.Mtime.Equal(g.Mtime) {
			t.Errorf("%q: mtime %v, want %v", rel, g.Mtime, w.Mtime)
		}
		if !bytes.Equal(w.Content, g.Content) {
			if w.Type&fs.ModeSymlink != 0 {
				t.Errorf("%q: symlink target %q, want %q", rel, g.Content, w.Content)
			} else {
				t.Errorf("%q: content differs (%d bytes, want %d)", rel, len(g.Content), len(w.Content))
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
