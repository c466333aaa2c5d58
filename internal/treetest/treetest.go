//go:build unix

package treetest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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
