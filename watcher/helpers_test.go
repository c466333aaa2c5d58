package watcher

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const waitTimeout = 5 * time.Second

// recorder collects the events a Watcher passes to Notify.
type recorder struct {
	mu     sync.Mutex
	events []Event
	next   int           // events before next were returned by waitEvent
	signal chan struct{} // cap 1: an event arrived since the last look
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

// notify is an Options.Notify: it returns at once.
func (r *recorder) notify(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// take returns the events from next up to want and moves next past want, or
// reports false with the events from next.
func (r *recorder) take(want Event) (before []Event, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := r.next; i < len(r.events); i++ {
		if r.events[i] == want {
			before = slices.Clone(r.events[r.next:i])
			r.next = i + 1
			return before, true
		}
	}
	return slices.Clone(r.events[r.next:]), false
}

// start starts a watcher with o, passing its events to a new recorder
// unless o.Notify is set, and closes it when the test ends.
func start(t *testing.T, o Options) (*Watcher, *recorder) {
	t.Helper()
	rec := newRecorder()
	if o.Notify == nil {
		o.Notify = rec.notify
	}
	w, err := New(t.Context(), o)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w, rec
}

func startWatcher(t *testing.T, root string, exclude func(string, bool) bool) (*Watcher, *recorder) {
	t.Helper()
	return start(t, Options{Root: root, Exclude: exclude})
}

// waitEvent waits for want and returns the events that came before it since
// the last waitEvent. It fails with everything that arrived if want does not
// come within waitTimeout.
func waitEvent(t *testing.T, r *recorder, want Event) []Event {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		got, ok := r.take(want)
		if ok {
			return got
		}
		select {
		case <-r.signal:
		case <-timer.C:
			got, _ := r.take(want)
			t.Fatalf("no %v within %v; got %v", want, waitTimeout, got)
		}
	}
}

// waitFor polls cond every 10 ms until it returns nil, and fails with its
// last error after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		<-tick.C
	}
}

// logBuf is a log destination that tests may read while the watcher writes.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

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
