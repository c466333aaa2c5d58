//go:build unix

package treetest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// WriteTree creates the files of tree (slash-separated path → content)
// under dir, with their parent folders.
func WriteTree(t testing.TB, dir string, tree map[string]string) {
	t.Helper()
	for rel, content := range tree {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tempRE matches copyd's temp names (.<name>.copyd-<16 hex>.tmp).
var tempRE = regexp.MustCompile(`(?s)^\..*\.copyd-[0-9a-f]{16}\.tmp$`)

// AssertNoTemps fails the test if any copyd temp file is left under dir.
func AssertNoTemps(t testing.TB, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && tempRE.MatchString(d.Name()) {
			t.Errorf("temp file left behind: %s", p)
		}
		return nil
	})
}

// AssertTreesEqual fails the test unless dst holds exactly what src holds:
// the same names, types, file contents, permission bits and modification
// times (files and folders, root excluded), and symlink target texts.
// Symlinks are never followed.
func AssertTreesEqual(t testing.TB, src, dst string) {
	t.Helper()
	want, got := listTree(t, src), listTree(t, dst)
	for rel, w := range want {
		g, ok := got[rel]
		if !ok {
			t.Errorf("%q missing in destination", rel)
			continue
		}
		if w.mode != g.mode {
			t.Errorf("%q: mode %v, want %v", rel, g.mode, w.mode)
		}
		if w.mode&fs.ModeSymlink == 0 && !w.mtime.Equal(g.mtime) {
			t.Errorf("%q: mtime %v, want %v", rel, g.mtime, w.mtime)
		}
		if !bytes.Equal(w.content, g.content) {
			t.Errorf("%q: content differs (%d bytes, want %d)", rel, len(g.content), len(w.content))
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			t.Errorf("%q in destination but not in source", rel)
		}
	}
}

type entry struct {
	mode    fs.FileMode
	mtime   time.Time
	content []byte // file content or symlink target
}

func listTree(t testing.TB, root string) map[string]entry {
	t.Helper()
	m := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{mode: fi.Mode(), mtime: fi.ModTime()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			e.content = []byte(target)
		case fi.Mode().IsRegular():
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

// WaitFor polls cond every 10 ms until it returns nil, and fails the test
// with cond's last error when timeout passes first.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not true after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Nobody returns credentials of the unprivileged user 65534, for running a
// command whose permission checks must apply (root bypasses them). It skips
// the test when this process is not root and so cannot switch users.
func Nobody(t testing.TB) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("switching to an unprivileged user needs root; run the tests as root (CI does)")
	}
	return &syscall.Credential{Uid: 65534, Gid: 65534}
}

// WorldDir returns a new folder outside t.TempDir()'s private parents, so
// that an unprivileged user can reach it, removed when the test ends.
func WorldDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "copyd-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755) // so RemoveAll can enter folders a test locked
			}
			return nil
		})
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ChownTree gives every entry under dir to the unprivileged user, except
// the paths in keep, so that an unprivileged copyd can read what it should.
func ChownTree(t testing.TB, dir string, cred *syscall.Credential, keep ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, k := range keep {
			if p == k {
				return nil
			}
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}
