package sync

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestChangeLog(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	p := new(Progress)
	c := newChangeLog(p, slog.New(slog.NewTextHandler(&logs, nil)))
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	burst := func(at time.Time, files int64) time.Time {
		c.working(at)
		p.FilesDone.Add(files)
		return c.idle(at.Add(100 * time.Millisecond))
	}
	lines := func() int { return strings.Count(logs.String(), "changes copied") }

	if at := burst(t0, 3); !at.IsZero() || lines() != 1 || !strings.Contains(logs.String(), "files=3 ") {
		t.Fatalf("first burst: flushAt %v, log %q; want one line at once with files=3", at, logs.String())
	}
	// Bursts within summaryEvery of that line wait and add up.
	at := burst(t0.Add(time.Second), 2)
	burst(t0.Add(2*time.Second), 5)
	if want := t0.Add(100*time.Millisecond + summaryEvery); !at.Equal(want) || lines() != 1 {
		t.Fatalf("second burst: flushAt %v (want %v), %d lines (want 1)", at, want, lines())
	}
	c.flush(at)
	if lines() != 2 || !strings.Contains(logs.String(), "files=7 ") {
		t.Fatalf("after flush: log %q; want a second line with files=7", logs.String())
	}
	// Work that copied nothing writes nothing.
	c.working(at.Add(time.Minute))
	c.idle(at.Add(time.Minute))
	if lines() != 2 {
		t.Errorf("idle work logged a line: %q", logs.String())
	}
}
