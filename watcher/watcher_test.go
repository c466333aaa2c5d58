package watcher

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/copyd/copyd/internal/tempname"
)

const waitTimeout = 5 * time.Second

func startWatcher(t *testing.T, root string, exclude func(string, bool) bool) *Watcher {
	t.Helper()
	w, err := New(t.Context(), Options{Root: root, Exclude: exclude})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// waitEvent waits for want and returns the events that came before it. It
// fails with everything that arrived if want does not come within waitTimeout.
func waitEvent(t *testing.T, w *Watcher, want Event) []Event {
	t.Helper()
	var got []Event
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("Events closed while waiting for %v; got %v", want, got)
			}
			if ev == want {
				return got
			}
			got = append(got, ev)
		case <-timer.C:
			t.Fatalf("no %v within %v; got %v", want, waitTimeout, got)
		}
	}
}

func (e Event) String() string { return fmt.Sprintf("%s %q", e.Kind, e.Rel) }

func write(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFileEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, root string) // before the watcher starts
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
			setup: func(t *testing.T, root string) { write(t, filepath.Join(root, "d", "f"), "x") },
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
			want: []Event{{Rel: "d/f", Kind: Changed}},
		},
		{
			name:  "chmod",
			setup: func(t *testing.T, root string) { write(t, filepath.Join(root, "f"), "x") },
			act: func(t *testing.T, root string) {
				if err := os.Chmod(filepath.Join(root, "f"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: []Event{{Rel: "f", Kind: Changed}},
		},
		{
			name:  "remove",
			setup: func(t *testing.T, root string) { write(t, filepath.Join(root, "d", "f"), "x") },
			act: func(t *testing.T, root string) {
				if err := os.Remove(filepath.Join(root, "d", "f")); err != nil {
					t.Fatal(err)
				}
			},
			want: []Event{{Rel: "d/f", Kind: Removed}},
		},
		{
			name:  "rename inside",
			setup: func(t *testing.T, root string) { write(t, filepath.Join(root, "old"), "x") },
			act: func(t *testing.T, root string) {
				if err := os.Rename(filepath.Join(root, "old"), filepath.Join(root, "new")); err != nil {
					t.Fatal(err)
				}
			},
			want: []Event{{Rel: "old", Kind: Removed}, {Rel: "new", Kind: Changed}},
		},
		{
			name: "rename folder inside",
			setup: func(t *testing.T, root string) {
				write(t, filepath.Join(root, "old", "sub", "f"), "x")
			},
			act: func(t *testing.T, root string) {
				if err := os.Rename(filepath.Join(root, "old"), filepath.Join(root, "new")); err != nil {
					t.Fatal(err)
				}
			},
			want: []Event{{Rel: "old", Kind: Removed}, {Rel: "new", Kind: DirAdded}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, root)
			}
			w := startWatcher(t, root, nil)
			tt.act(t, root)
			for _, want := range tt.want {
				waitEvent(t, w, want)
			}
		})
	}
}

func TestRenamedFolderWatchedUnderNewName(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "old", "sub", "f"), "x")
	w := startWatcher(t, root, nil)
	if err := os.Rename(filepath.Join(root, "old"), filepath.Join(root, "new")); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, w, Event{Rel: "new", Kind: DirAdded})
	write(t, filepath.Join(root, "new", "sub", "g"), "x")
	waitEvent(t, w, Event{Rel: "new/sub/g", Kind: Changed})
	if got, want := w.Watches(), 3; got != want {
		t.Errorf("Watches() = %d, want %d", got, want)
	}
}

func TestMkdirAll(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	w := startWatcher(t, root, nil)
	write(t, filepath.Join(root, "a", "b", "c", "f"), "x")
	waitEvent(t, w, Event{Rel: "a", Kind: DirAdded})
	// The walk of "a" may run while mkdir -p still creates b and c; the
	// deeper folders are then watched (and reported with their own
	// DirAdded) once their Create events are handled. Only when all four
	// watches exist is a new file in a/b/c sure to give its own event.
	deadline := time.Now().Add(waitTimeout)
	for w.Watches() != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("Watches() = %d after %v, want 4", w.Watches(), waitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	write(t, filepath.Join(root, "a", "b", "c", "g"), "x")
	waitEvent(t, w, Event{Rel: "a/b/c/g", Kind: Changed})
}

func TestMoveTreeIn(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	root := t.TempDir()
	write(t, filepath.Join(outside, "tree", "x", "y", "f"), "x")
	w := startWatcher(t, root, nil)
	if err := os.Rename(filepath.Join(outside, "tree"), filepath.Join(root, "tree")); err != nil {
		t.Fatal(err)
	}
	before := waitEvent(t, w, Event{Rel: "tree", Kind: DirAdded})
	for _, ev := range before {
		if strings.HasPrefix(ev.Rel, "tree/") {
			t.Errorf("event %v from inside the moved tree, want one DirAdded only", ev)
		}
	}
	write(t, filepath.Join(root, "tree", "x", "y", "g"), "x")
	waitEvent(t, w, Event{Rel: "tree/x/y/g", Kind: Changed})
	if got, want := w.Watches(), 4; got != want {
		t.Errorf("Watches() = %d, want %d", got, want)
	}
}

func TestMoveTreeOut(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	root := t.TempDir()
	write(t, filepath.Join(root, "tree", "x", "f"), "x")
	w := startWatcher(t, root, nil)
	if err := os.Rename(filepath.Join(root, "tree"), filepath.Join(outside, "tree")); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, w, Event{Rel: "tree", Kind: Removed})
	write(t, filepath.Join(outside, "tree", "x", "g"), "x") // no longer ours
	write(t, filepath.Join(root, "sentinel"), "x")
	for _, ev := range waitEvent(t, w, Event{Rel: "sentinel", Kind: Changed}) {
		t.Errorf("unexpected event %v", ev)
	}
	if got, want := w.Watches(), 1; got != want {
		t.Errorf("Watches() = %d, want %d", got, want)
	}
}

func TestIgnored(t *testing.T) {
	t.Parallel()
	exclude := func(rel string, isDir bool) bool { return isDir && rel == "cache" }
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		act   func(t *testing.T, root string)
	}{
		{
			name: "temp file",
			act: func(t *testing.T, root string) {
				p := filepath.Join(root, ".x.copyd-0123456789abcdef.tmp")
				write(t, p, "x")
				if err := os.Rename(p, filepath.Join(root, ".y.copyd-0123456789abcdef.tmp")); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:  "inside excluded folder present at start",
			setup: func(t *testing.T, root string) { write(t, filepath.Join(root, "cache", "sub", "old"), "x") },
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
			root := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, root)
			}
			w := startWatcher(t, root, exclude)
			tt.act(t, root)
			write(t, filepath.Join(root, "sentinel"), "x")
			for _, ev := range waitEvent(t, w, Event{Rel: "sentinel", Kind: Changed}) {
				t.Errorf("unexpected event %v before the sentinel", ev)
			}
			if got, want := w.Watches(), 1; got != want {
				t.Errorf("Watches() = %d, want %d (excluded folders are not watched)", got, want)
			}
		})
	}
}

func TestNewRootErrors(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	file := filepath.Join(root, "file")
	write(t, file, "x")
	for _, p := range []string{filepath.Join(root, "missing"), file} {
		if w, err := New(t.Context(), Options{Root: p}); err == nil {
			w.Close()
			t.Errorf("New(%q) error = nil, want an error", p)
		}
	}
}

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
			w, err := New(ctx, Options{Root: root})
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			tt.stop(w, cancel)
			timer := time.NewTimer(waitTimeout)
			defer timer.Stop()
			for open := true; open; {
				select {
				case _, open = <-w.Events():
				case <-timer.C:
					t.Fatal("Events not closed after stop")
				}
			}
			if err := w.Close(); err != nil {
				t.Errorf("Close() error = %v", err)
			}
			if err := w.Close(); err != nil {
				t.Errorf("second Close() error = %v", err)
			}
		})
	}
}

func TestIsTemp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want bool
	}{
		{".x.copyd-0123456789abcdef.tmp", true},
		{"..copyd-0123456789abcdef.tmp", true},
		{".x.copyd-0123456789ABCDEF.tmp", false},
		{".x.copyd-0123456789abcde.tmp", false},
		{"x.copyd-0123456789abcdef.tmp", false},
		{".x.tmp", false},
		{".x.copyd-0123456789abcdef", false},
	}
	for _, tt := range tests {
		if got := tempname.Is(tt.name); got != tt.want {
			t.Errorf("tempname.Is(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLogLimit(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	w := &Watcher{
		log:     slog.New(slog.NewTextHandler(&buf, nil)),
		watched: map[string]bool{"": true, "a": true},
		missing: 5,
	}
	w.logLimit()
	out := buf.String()
	want := []string{"level=ERROR", "folders=7"}
	if _, ok := watchLimit(); ok {
		want = append(want, "fs.inotify.max_user_watches", "sysctl fs.inotify.max_user_watches=", "/etc/sysctl.d/")
	}
	for _, s := range want {
		if !strings.Contains(out, s) {
			t.Errorf("logLimit() logged %q, want it to contain %q", out, s)
		}
	}
}
