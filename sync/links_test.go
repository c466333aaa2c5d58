//go:build unix

package sync

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLinkIndexHandsOnEachStateOnce runs the index on real hard links: a
// change found under one name is handed on to the other names once, and
// their jobs, which find the same state, hand nothing back.
func TestLinkIndexHandsOnEachStateOnce(t *testing.T) {
	dir := t.TempDir()
	abs := func(rel string) string { return filepath.Join(dir, rel) }
	lstat := func(rel string) os.FileInfo {
		t.Helper()
		fi, err := os.Lstat(abs(rel))
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	writeTree(t, dir, map[string]string{"a": "v1", "single": "one name"})
	for _, name := range []string{"b", "c"} {
		if err := os.Link(abs("a"), abs(name)); err != nil {
			t.Fatal(err)
		}
	}
	x := newLinkIndex(slog.New(slog.DiscardHandler))
	steps := []struct {
		do      func()
		rel     string
		written bool // the job is for a reported write
		want    []string
	}{
		{rel: "single"}, // one name: not followed
		{rel: "a"},      // first sight: its state is the baseline
		{rel: "b"},      // same state
		{rel: "c"},      // same state
		{do: func() { appendTo(t, abs("b"), "+") }, rel: "b", want: []string{"a", "c"}},
		{rel: "a"}, // the handed-on jobs find that state: nothing back
		{rel: "c"},
		{do: func() { chmodOrFail(t, abs("c"), 0o600) }, rel: "c", want: []string{"a", "b"}},
		{do: func() { removeOrFail(t, abs("a")) }, rel: "b", want: nil},
		{do: func() { x.forget("a"); appendTo(t, abs("c"), "+") }, rel: "c", want: []string{"b"}},
		// A write that kept the state is handed on all the same, once.
		{do: func() { rewriteKeepingState(t, abs("c"), "-") }, rel: "c", written: true, want: []string{"b"}},
		{rel: "b", written: true}, // handed to b: b does not hand it back
		{rel: "c", written: true, want: []string{"b"}},
		{do: func() { removeOrFail(t, abs("b")); x.forget("b") }, rel: "c"}, // one name left: dropped
		{do: func() { appendTo(t, abs("c"), "+") }, rel: "c"},
	}
	for i, s := range steps {
		if s.do != nil {
			s.do()
		}
		got := x.changed(s.rel, lstat(s.rel), s.written)
		slices.Sort(got)
		if !slices.Equal(got, s.want) {
			t.Fatalf("step %d: changed(%q) = %q, want %q", i, s.rel, got, s.want)
		}
	}
	if n := x.names.Load(); n != 0 {
		t.Errorf("%d names left in the index, want 0", n)
	}
}

// TestLinkIndexLimit stops following new names at the limit, says so
// once, and keeps handing on between the names it has.
func TestLinkIndexLimit(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"f": "v1"})
	names := []string{"f"}
	for _, n := range []string{"g", "h", "i"} {
		if err := os.Link(filepath.Join(dir, "f"), filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	var log bytes.Buffer
	x := newLinkIndex(slog.New(slog.NewTextHandler(&log, nil)))
	x.limit = 2
	for _, n := range names {
		fi, _ := os.Lstat(filepath.Join(dir, n))
		x.changed(n, fi, false)
	}
	appendTo(t, filepath.Join(dir, "f"), "+")
	fi, _ := os.Lstat(filepath.Join(dir, "f"))
	if got := x.changed("f", fi, false); !slices.Equal(got, []string{"g"}) {
		t.Errorf("changed(f) = %q, want [g]", got)
	}
	if n := strings.Count(log.String(), "too many hard-linked names"); n != 1 {
		t.Errorf("%d lines about the limit, want 1:\n%s", n, log.String())
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// rewriteKeepingState overwrites the last byte of path with s (one byte)
// and puts its modification time back.
func rewriteKeepingState(t *testing.T, path, s string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(s), fi.Size()-1); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, time.Time{}, fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

func chmodOrFail(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func removeOrFail(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
