package watcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOverflowHook plays a kernel queue overflow with COPYD_TEST_OVERFLOW and
// checks that everything between the trigger's creation and removal is lost,
// that one Rescan follows, logged like fsnotify.ErrEventOverflow, and that the
// watches then match the tree again.
func TestOverflowHook(t *testing.T) {
	const trigger = "copyd-overflow-trigger"
	t.Setenv(overflowEnv, trigger) // so not parallel
	tests := []struct {
		name    string
		setup   func(t *testing.T, root string) // before the watcher starts
		lost    func(t *testing.T, root string) // while events are dropped
		after   func(t *testing.T, root string, rec *recorder)
		watches int
	}{
		{
			name:    "file created",
			lost:    func(t *testing.T, root string) { write(t, filepath.Join(root, "lost"), "x") },
			watches: 1,
		},
		{
			name: "folder created",
			lost: func(t *testing.T, root string) {
				if err := os.MkdirAll(filepath.Join(root, "new", "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			after: func(t *testing.T, root string, rec *recorder) {
				write(t, filepath.Join(root, "new", "sub", "f"), "x")
				waitEvent(t, rec, Event{Rel: "new/sub/f", Kind: Changed})
			},
			watches: 3,
		},
		{
			name:  "folder removed",
			setup: func(t *testing.T, root string) { write(t, filepath.Join(root, "d", "sub", "f"), "x") },
			lost: func(t *testing.T, root string) {
				if err := os.RemoveAll(filepath.Join(root, "d")); err != nil {
					t.Fatal(err)
				}
			},
			watches: 1,
		},
		{
			name:  "folder replaced",
			setup: func(t *testing.T, root string) { write(t, filepath.Join(root, "d", "f"), "x") },
			lost: func(t *testing.T, root string) {
				if err := os.RemoveAll(filepath.Join(root, "d")); err != nil {
					t.Fatal(err)
				}
				write(t, filepath.Join(root, "d", "g"), "x")
			},
			after: func(t *testing.T, root string, rec *recorder) {
				write(t, filepath.Join(root, "d", "h"), "x")
				waitEvent(t, rec, Event{Rel: "d/h", Kind: Changed})
			},
			watches: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, root)
			}
			var logs logBuf
			w, rec := start(t, Options{Root: root, Log: logs.logger()})
			write(t, filepath.Join(root, "before"), "x")
			waitEvent(t, rec, Event{Rel: "before", Kind: Changed})
			write(t, filepath.Join(root, trigger), "x")
			tt.lost(t, root)
			if err := os.Remove(filepath.Join(root, trigger)); err != nil {
				t.Fatal(err)
			}
			for _, ev := range waitEvent(t, rec, Event{Kind: Rescan}) {
				if ev.Rel != "before" { // its Write may follow its Create
					t.Errorf("event %v reported, want it lost", ev)
				}
			}
			if tt.after != nil {
				tt.after(t, root, rec)
			}
			write(t, filepath.Join(root, "sentinel"), "x")
			for _, ev := range waitEvent(t, rec, Event{Rel: "sentinel", Kind: Changed}) {
				if ev.Kind == Rescan {
					t.Errorf("second %v, want one", ev)
				}
			}
			if got := w.Watches(); got != tt.watches {
				t.Errorf("Watches() = %d, want %d", got, tt.watches)
			}
			out := logs.String()
			for _, s := range []string{"level=WARN", `msg="events lost, rescanning"`, "overflow"} {
				if !strings.Contains(out, s) {
					t.Errorf("log %q, want it to contain %q", out, s)
				}
			}
		})
	}
}
