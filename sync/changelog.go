package sync

import (
	"log/slog"
	"time"
)

// summaryEvery is the shortest time between two "changes copied" lines of
// a pair: a file rewritten every second must not write a log line every
// second for months.
const summaryEvery = 10 * time.Second

// changeLog tells what a pair of the daemon copied: one line when a burst
// of work ends, and while work keeps coming at most one per summaryEvery,
// covering everything since the previous line. Owned by the pair's loop.
type changeLog struct {
	progress *Progress
	log      *slog.Logger

	files, bytes, deleted, moved, failed int64     // counters at the previous line
	first, last                          time.Time // first work since the previous line, and when it last ended
	logged                               time.Time // the previous line
	busy                                 bool      // work runs (idle not called since)
}

func newChangeLog(p *Progress, log *slog.Logger) *changeLog {
	c := &changeLog{progress: p, log: log}
	c.reset()
	return c
}

func (c *changeLog) reset() {
	p := c.progress
	c.files, c.bytes, c.deleted = p.FilesDone.Load(), p.BytesDone.Load(), p.Deleted.Load()
	c.moved, c.failed = p.Moved.Load(), p.Failed.Load()
	c.first = time.Time{}
}

// working notes that work runs at now.
func (c *changeLog) working(now time.Time) {
	c.busy = true
	if c.first.IsZero() {
		c.first = now
	}
}

// busyUntilNow reports whether work ran since the last call to idle.
func (c *changeLog) busyUntilNow() bool { return c.busy }

// pending reports whether work ran since the previous line.
func (c *changeLog) pending() bool { return !c.first.IsZero() }

// idle notes that the work ended at now and logs, unless the previous line
// is too recent: then it returns when to call flush (zero if logged).
func (c *changeLog) idle(now time.Time) (flushAt time.Time) {
	c.busy = false
	c.last = now
	if next := c.logged.Add(summaryEvery); now.Before(next) {
		return next
	}
	c.flush(now)
	return time.Time{}
}

// flush logs what was done since the previous line, if anything was.
func (c *changeLog) flush(now time.Time) {
	if !c.pending() {
		return
	}
	p := c.progress
	files, deleted, moved, failed := p.FilesDone.Load()-c.files, p.Deleted.Load()-c.deleted, p.Moved.Load()-c.moved, p.Failed.Load()-c.failed
	if files > 0 || deleted > 0 || moved > 0 || failed > 0 {
		c.log.Info("changes copied",
			"files", files,
			"bytes", p.BytesDone.Load()-c.bytes,
			"deleted", deleted,
			"moved", moved,
			"failed", failed,
			"dur", c.last.Sub(c.first).Round(time.Millisecond))
		c.logged = now
	}
	c.reset()
}
