package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestKernelOverflow overflows a real inotify queue: it lowers
// fs.inotify.max_queued_events to 64 just long enough for New to create its
// inotify instance, which reads it then, and creates many files while Notify
// is held, so nobody reads the queue.
func TestKernelOverflow(t *testing.T) {
	const p = "/proc/sys/fs/inotify/max_queued_events"
	if os.Geteuid() != 0 {
		t.Skip("lowering fs.inotify.max_queued_events needs root")
	}
	old, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("cannot read fs.inotify.max_queued_events: %v", err)
	}
	root := t.TempDir()
	var logs logBuf
	rec := newRecorder()
	release := make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	held := false // owned by the watcher's goroutine
	notify := func(ev Event) {
		if !held {
			held = true
			<-release
		}
		rec.notify(ev)
	}

	// Other processes that create an inotify instance between these two
	// writes get the small queue too, so nothing else happens in between.
	if err := os.WriteFile(p, []byte("64"), 0); err != nil {
		t.Skipf("cannot lower fs.inotify.max_queued_events: %v", err)
	}
	restore := sync.OnceFunc(func() {
		if err := os.WriteFile(p, old, 0); err != nil {
			t.Errorf("restore fs.inotify.max_queued_events to %s: %v", strings.TrimSpace(string(old)), err)
		}
	})
	t.Cleanup(restore)
	w, err := New(t.Context(), Options{Root: root, Notify: notify, Log: logs.logger()})
	restore()
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(func() { w.Close() })
	t.Cleanup(unblock) // runs before Close: a failed test must not leave Notify held

	for i := range 2000 {
		write(t, filepath.Join(root, fmt.Sprintf("f%04d", i)), "")
	}
	unblock()
	waitEvent(t, rec, Event{Kind: Rescan})
	if out := logs.String(); !strings.Contains(out, "overflow") {
		t.Errorf("log %q, want it to contain %q", out, "overflow")
	}
	// The queue refilled while Notify was held, so more overflows (and
	// Rescans) may still be queued, and a file made now may be lost in one
	// of them. Events flow again once those are drained: keep making files
	// until one is reported.
	made := 0
	waitFor(t, waitTimeout, func() error {
		for i := range made {
			if _, ok := rec.take(Event{Rel: fmt.Sprintf("after%d", i), Kind: Changed}); ok {
				return nil
			}
		}
		write(t, filepath.Join(root, fmt.Sprintf("after%d", made)), "x")
		made++
		return fmt.Errorf("none of %d new files reported", made)
	})
}
