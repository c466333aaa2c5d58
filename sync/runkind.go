package sync

import (
	"context"
	"io/fs"
	"time"
)

// runKind is what a pass asks of the run it serves: [oneShot] for copyd
// sync, the daemon's *livePair for copyd run. A pass never asks which
// one it serves; where the two differ, it asks its runKind.
type runKind interface {
	// retry runs op until it succeeds or fails for good: a one-shot run
	// waits and tries again (pairRun.retryHere); the daemon tries once
	// and reschedules through its queue.
	retry(ctx context.Context, r *pairRun, opName, rel string, op func() error) bool
	// failed handles rel's final failure, already recorded: one log line,
	// and in the daemon another try later.
	failed(r *pairRun, op, rel string, err error)
	// noteFailure keeps a failure for the status and reports whether to
	// count it (the daemon counts a failing path once).
	noteFailure(op, rel string, err error) (count bool)
	// refused logs that the pair stopped because its destination refuses
	// writes, and what to do.
	refused(r *pairRun, attrs ...any)
	// wake tells the run that its pair paused (the daemon's loop then
	// decides what comes next).
	wake()
	// claim takes rel for one copy at a time (false: another job holds
	// it and rel was queued again); release gives it back.
	claim(rel string) bool
	release(rel string)
	// sourceRead says a copy that began at start read rel's source whole.
	sourceRead(rel string, start time.Time)
	// recovered says step worked on rel: the daemon forgets its failures.
	recovered(rel, step string)
	// copied reports a file copied under its name: bytes, in d.
	copied(pair string, bytes int64, d time.Duration)
	// met says a scan met rel (src, and for a file whether its content
	// was written), so the daemon drops what it staged for rel and
	// follows the file's other names (hard links).
	met(rel string, src fs.FileInfo, written bool)
	// archiveTime is the time in the names of files archived now.
	archiveTime(started time.Time) time.Time
	// rootBrake says why deletions must wait, "" when they need not
	// (a one-shot pass found out while scanning).
	rootBrake() string
}

// oneShot is the runKind of copyd sync: retries wait in the worker,
// failures are logged once, and nothing else is told.
type oneShot struct{}

var (
	_ runKind = oneShot{}
	_ runKind = (*livePair)(nil)
)

func (oneShot) retry(ctx context.Context, r *pairRun, opName, rel string, op func() error) bool {
	return r.retryHere(ctx, opName, rel, op)
}

func (oneShot) failed(r *pairRun, op, rel string, err error) {
	r.log.Error(op+" failed", "path", rel, "err", err)
}

func (oneShot) noteFailure(string, string, error) bool { return true }

func (oneShot) wake() {}

func (oneShot) refused(r *pairRun, attrs ...any) {
	r.log.Error("destination refuses writes; pair stopped, free space or fix the destination and run again", attrs...)
}

func (oneShot) claim(string) bool                   { return true }
func (oneShot) release(string)                      {}
func (oneShot) sourceRead(string, time.Time)        {}
func (oneShot) recovered(string, string)            {}
func (oneShot) copied(string, int64, time.Duration) {}
func (oneShot) met(string, fs.FileInfo, bool)       {}
func (oneShot) rootBrake() string                   { return "" }

// archiveTime: one stamp for everything a one-shot run archives.
func (oneShot) archiveTime(started time.Time) time.Time { return started }

// The daemon's side of runKind.

func (lp *livePair) retry(ctx context.Context, r *pairRun, opName, rel string, op func() error) bool {
	return lp.try(ctx, r, opName, rel, op)
}

func (lp *livePair) failed(_ *pairRun, op, rel string, err error) { lp.retryLater(op, rel, err) }

func (lp *livePair) noteFailure(op, rel string, err error) bool {
	count := lp.countFailure(rel)
	lp.stats.noteError(op, rel, err)
	return count
}

func (lp *livePair) wake() { lp.poke() }

func (lp *livePair) refused(r *pairRun, attrs ...any) {
	r.log.Error("destination refuses writes; pair paused until it takes writes again, free space or fix the destination", attrs...)
}

func (lp *livePair) sourceRead(rel string, start time.Time) { lp.settle.Copied(rel, start) }

func (lp *livePair) copied(pair string, bytes int64, d time.Duration) {
	if lp.metrics != nil {
		lp.metrics.Copied(pair, bytes, d)
	}
}

func (lp *livePair) met(rel string, src fs.FileInfo, written bool) {
	lp.dropStagedFor(rel) // this scan brings rel in step itself
	if src.Mode().IsRegular() {
		lp.handOnToLinks(rel, src, written)
	}
}

// archiveTime: the daemon archives as things happen.
func (lp *livePair) archiveTime(time.Time) time.Time { return time.Now() }
