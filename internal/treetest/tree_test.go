//go:build unix

package treetest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	base := map[string]string{"a.txt": "a", "dir/b.txt": "b"}
	stamp := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name   string
		change func(t *testing.T, dst string) // applied to a copy of base
		ignore []string
		want   []string // substrings, one per difference, in order
	}{
		{"equal", func(*testing.T, string) {}, nil, nil},
		{"content", func(t *testing.T, dst string) { rewrite(t, dst, "a.txt", "A") }, nil,
			[]string{`"a.txt": content differs`}},
		{"missing", func(t *testing.T, dst string) { os.Remove(filepath.Join(dst, "dir/b.txt")) }, nil,
			[]string{`"dir/b.txt" (file) missing in destination`}},
		{"extra", func(t *testing.T, dst string) { rewrite(t, dst, "x", "x") }, nil,
			[]string{`"x" (file) in destination but not in source`}},
		{"mode", func(t *testing.T, dst string) { os.Chmod(filepath.Join(dst, "a.txt"), 0o600) }, nil,
			[]string{`"a.txt": mode -rw-------, want -rw-r--r--`}},
		{"mtime", func(*testing.T, string) {}, nil, []string{`"a.txt": mtime`}}, // set below
		{"ignored", func(t *testing.T, dst string) {
			rewrite(t, dst, "dir/b.txt", "B")
			rewrite(t, dst, "dir/new", "n")
		}, []string{"dir"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			for _, root := range []string{src, dst} {
				WriteTree(t, root, base)
			}
			tt.change(t, dst)
			for _, root := range []string{src, dst} {
				for _, rel := range []string{"a.txt", "dir/b.txt", "dir", "."} {
					os.Chtimes(filepath.Join(root, rel), stamp, stamp)
				}
			}
			if tt.name == "mtime" { // after the stamps that hide the other changes' mtimes
				os.Chtimes(filepath.Join(dst, "a.txt"), stamp.Add(time.Second), stamp.Add(time.Second))
			}
			got, err := Diff(src, dst, tt.ignore...)
			if err != nil {
				t.Fatalf("Diff() error = %v", err)
			}
			if len(got) != len(tt.want) || !slices.EqualFunc(got, tt.want, strings.Contains) {
				t.Errorf("Diff() = %q, want %q", got, tt.want)
			}
			if err := Compare(src, dst, tt.ignore...); (err == nil) != (tt.want == nil) {
				t.Errorf("Compare() error = %v, want one only if Diff reports differences", err)
			}
		})
	}
}

func TestDiffMissingRoot(t *testing.T) {
	src := t.TempDir()
	if _, err := Diff(src, filepath.Join(src, "nope")); err == nil {
		t.Error("Diff() with a missing destination: error = nil, want one")
	}
}

func rewrite(t *testing.T, root, rel, content string) {
	t.Helper()
	WriteTree(t, root, map[string]string{rel: content})
}
