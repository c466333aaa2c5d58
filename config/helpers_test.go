package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tempRoot returns a fresh temp folder with its symbolic links resolved
// (macOS's /var is /private/var), so expected paths match resolved ones.
func tempRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// mkTree creates entries under root: "a/b/" a folder, "a/f" a file with
// content "x", "l -> target" a symbolic link to target (as written).
func mkTree(t *testing.T, root string, entries ...string) {
	t.Helper()
	for _, e := range entries {
		var err error
		switch name, target, isLink := strings.Cut(e, " -> "); {
		case isLink:
			p := filepath.Join(root, name)
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.Symlink(target, p)
			}
		case strings.HasSuffix(e, "/"):
			err = os.MkdirAll(filepath.Join(root, e), 0o755)
		default:
			p := filepath.Join(root, e)
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.WriteFile(p, []byte("x"), 0o644)
			}
		}
		if err != nil {
			t.Fatalf("mkTree(%q): %v", e, err)
		}
	}
}

// expand replaces $T by root in s.
func expand(s, root string) string { return strings.ReplaceAll(s, "$T", root) }

// problems returns the *Problem values joined in err.
func problems(t *testing.T, err error) []*Problem {
	t.Helper()
	var out []*Problem
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var p *Problem
		if !errors.As(err, &p) {
			t.Fatalf("error %q (%T) is not a *Problem", err, err)
		}
		out = append(out, p)
	}
	if err != nil {
		walk(err)
	}
	return out
}
