package watcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestFileEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files []string // written before the watcher starts
		act   func(t *testing.T, root string)
		want  []Event // in order, other events may come between them
	}{
		{
			name: "create",
			act:  func(t *testing.T, root string) { write(t, filepath.Join(root, "f"), "x") },
			want: []Event{{Rel: "f", Kind: Changed}},
		},
		{
			name:  "append",
			files: []string{"d/f"},
			act: func(t *testing.T, root string) {
				f, err := os.OpenFile(filepath.Join(root, "d", "f"), os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.WriteString("more"); err != nil {
					t.Fatal(err)
				}
			},
			want: []Event{{Rel: "d/f", Kind: Written}},
		},
		{
			name:  "chmod",
			files: []string{"f"},
			act: func(t *testing.T, root string) {
				if err := os.Chmod(filepath.Join(root, "f"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: []Event{{Rel: "f", Kind: Attrib}},
		},
		{
			name:  "remove",
			files: []string{"d/f"},
			act: func(t *testing.T, root string) {
				if err := os.Remove(filepath.Join(root, "d", "f")); err != nil {
					t.Fatal(err)
				}
			},
			want: []Event{{Rel: "d/f", Kind: Removed}},
		},
		{
			name:  "rename inside",
			files: []string{"old"},
			act:   func(t *testing.T, root string) { rename(t, filepath.Join(root, "old"), filepath.Join(root, "new")) },
			want:  []Event{{Rel: "old", Kind: Removed}, {Rel: "new", Kind: Changed}},
		},
		{
			name:  "rename folder inside",
			files: []string{"old/sub/f"},
			act:   func(t *testing.T, root string) { rename(t, filepath.Join(root, "old"), filepath.Join(root, "new")) },
			want:  []Event{{Rel: "old", Kind: Removed}, {Rel: "new", Kind: DirAdded}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root, _, rec := watchTree(t, nil, tt.files...)
			tt.act(t, root)
			for _, want := range tt.want {
				waitEvent(t, rec, want)
			}
		})
	}
}

func TestRenamedFolderWatchedUnderNewName(t *testing.T) {
	t.Parallel()
	root, w, rec := watchTree(t, nil, "old/sub/f")
	rename(t, filepath.Join(root, "old"), filepath.Join(root, "new"))
	waitEvent(t, rec, Event{Rel: "new", Kind: DirAdded})
	write(t, filepath.Join(root, "new", "sub", "g"), "x")
	waitEvent(t, rec, Event{Rel: "new/sub/g", Kind: Changed})
	assertWatches(t, w, 3)
}

func TestMkdirAll(t *testing.T) {
	t.Parallel()
	root, w, rec := watchTree(t, nil)
	write(t, filepath.Join(root, "a", "b", "c", "f"), "x")
	waitEvent(t, rec, Event{Rel: "a", Kind: DirAdded})
	// The walk of "a" may run while mkdir -p still creates b and c; the
	// deeper folders are then watched (and reported with their own
	// DirAdded) once their Create events are handled. Only when all four
	// watches exist is a new file in a/b/c sure to give its own event.
	waitFor(t, waitTimeout, func() error {
		if got := w.Watches(); got != 4 {
			return fmt.Errorf("Watches() = %d, want 4", got)
		}
		return nil
	})
	write(t, filepath.Join(root, "a", "b", "c", "g"), "x")
	waitEvent(t, rec, Event{Rel: "a/b/c/g", Kind: Changed})
}

func TestMoveTreeIn(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	write(t, filepath.Join(outside, "tree", "x", "y", "f"), "x")
	root, w, rec := watchTree(t, nil)
	rename(t, filepath.Join(outside, "tree"), filepath.Join(root, "tree"))
	before := waitEvent(t, rec, Event{Rel: "tree", Kind: DirAdded})
	for _, ev := range before {
		if strings.HasPrefix(ev.Rel, "tree/") {
			t.Errorf("event %v from inside the moved tree, want one DirAdded only", ev)
		}
	}
	write(t, filepath.Join(root, "tree", "x", "y", "g"), "x")
	waitEvent(t, rec, Event{Rel: "tree/x/y/g", Kind: Changed})
	assertWatches(t, w, 4)
}

func TestMoveTreeOut(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	root, w, rec := watchTree(t, nil, "tree/x/f")
	rename(t, filepath.Join(root, "tree"), filepath.Join(outside, "tree"))
	waitEvent(t, rec, Event{Rel: "tree", Kind: Removed})
	write(t, filepath.Join(outside, "tree", "x", "g"), "x") // no longer ours
	assertQuiet(t, root, rec)
	// Its watches go once no other half of the rename can come.
	waitFor(t, waitTimeout, func() error {
		if got := w.Watches(); got != 1 {
			return fmt.Errorf("Watches() = %d, want 1", got)
		}
		return nil
	})
}

func TestIgnored(t *testing.T) {
	t.Parallel()
	exclude := func(rel string, isDir bool) bool { return isDir && rel == "cache" }
	tests := []struct {
		name  string
		files []string // written before the watcher starts
		act   func(t *testing.T, root string)
	}{
		{
			name: "temp file",
			act: func(t *testing.T, root string) {
				p := filepath.Join(root, ".x.copyd-0123456789abcdef.tmp")
				write(t, p, "x")
				rename(t, p, filepath.Join(root, ".y.copyd-0123456789abcdef.tmp"))
			},
		},
		{
			name:  "inside excluded folder present at start",
			files: []string{"cache/sub/old"},
			act: func(t *testing.T, root string) {
				write(t, filepath.Join(root, "cache", "f"), "x")
				write(t, filepath.Join(root, "cache", "sub", "g"), "x")
				if err := os.Remove(filepath.Join(root, "cache", "sub", "old")); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "excluded folder created",
			act: func(t *testing.T, root string) {
				write(t, filepath.Join(root, "cache", "f"), "x")
				write(t, filepath.Join(root, "cache", "g"), "x")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root, w, rec := watchTree(t, exclude, tt.files...)
			tt.act(t, root)
			assertQuiet(t, root, rec)
			assertWatches(t, w, 1) // excluded folders are not watched
		})
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	file := filepath.Join(root, "file")
	write(t, file, "x")
	notify := func(Event) {}
	tests := []struct {
		name string
		o    Options
	}{
		{"missing root", Options{Root: filepath.Join(root, "missing"), Notify: notify}},
		{"root is a file", Options{Root: file, Notify: notify}},
		{"no Notify", Options{Root: root}},
	}
	for _, tt := range tests {
		if w, err := New(t.Context(), tt.o); err == nil {
			w.Close()
			t.Errorf("%s: New() error = nil, want an error", tt.name)
		}
	}
}

// TestClose stops a watcher while files are being created and checks that
// Notify is never called once Close returned, and that Close may be called
// again, from several goroutines.
func TestClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stop func(w *Watcher, cancel context.CancelFunc)
	}{
		{"Close", func(w *Watcher, _ context.CancelFunc) { w.Close() }},
		{"cancel", func(_ *Watcher, cancel context.CancelFunc) { cancel() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			rec := newRecorder()
			var closed atomic.Bool
			var late atomic.Int64 // Notify calls after Close returned
			w, err := New(ctx, Options{Root: root, Notify: func(ev Event) {
				if closed.Load() {
					late.Add(1)
				}
				rec.notify(ev)
			}})
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			stopWriting := make(chan struct{})
			var writer sync.WaitGroup
			writer.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stopWriting:
						return
					default:
					}
					_ = os.WriteFile(filepath.Join(root, fmt.Sprintf("f%d", i)), nil, 0o644)
				}
			})
			waitEvent(t, rec, Event{Rel: "f0", Kind: Changed})
			tt.stop(w, cancel)
			if err := w.Close(); err != nil {
				t.Errorf("Close() error = %v", err)
			}
			closed.Store(true)
			// Events keep coming from the writer; none may reach Notify.
			for i := range 200 {
				write(t, filepath.Join(root, fmt.Sprintf("late%d", i)), "x")
			}
			close(stopWriting)
			writer.Wait()
			var closers sync.WaitGroup
			for range 2 {
				closers.Go(func() {
					if err := w.Close(); err != nil {
						t.Errorf("second Close() error = %v", err)
					}
				})
			}
			closers.Wait()
			if n := late.Load(); n != 0 {
				t.Errorf("Notify called %d times after Close returned", n)
			}
		})
	}
}

// watchTree writes each of files (slash-separated, relative to a new root,
// content "x"), then starts a watcher on the root with exclude; the watcher is
// closed when the test ends.
func watchTree(t *testing.T, exclude func(string, bool) bool, files ...string) (root string, w *Watcher, rec *recorder) {
	t.Helper()
	root = t.TempDir()
	for _, f := range files {
		write(t, filepath.Join(root, filepath.FromSlash(f)), "x")
	}
	w, rec = startWatcher(t, root, exclude)
	return root, w, rec
}

// assertQuiet is the barrier that proves nothing happened: it writes
// root/sentinel, waits for its event and fails on every event that came
// before it since the last waitEvent.
func assertQuiet(t *testing.T, root string, rec *recorder) {
	t.Helper()
	write(t, filepath.Join(root, "sentinel"), "x")
	for _, ev := range waitEvent(t, rec, Event{Rel: "sentinel", Kind: Changed}) {
		t.Errorf("unexpected event %v before the sentinel", ev)
	}
}

func assertWatches(t *testing.T, w *Watcher, want int) {
	t.Helper()
	if got := w.Watches(); got != want {
		t.Errorf("Watches() = %d, want %d", got, want)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}
