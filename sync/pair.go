package sync

import (
	"context"
	"errors"
	"fmt"
	"github.com/copyd/copyd/sync/settle"
	"github.com/copyd/copyd/sync/workpool"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/index"
	"github.com/copyd/copyd/internal/exclude"
)

// pairRun is the state of one pair during one pass over its tree.
type pairRun struct {
	pair     config.Pair
	excl     *exclude.Matcher
	queue    *workpool.Queue
	log      *slog.Logger
	progress *Progress
	dryRun   bool
	plan     io.Writer
	planMu   *sync.Mutex
	owner    bool         // preserve owner and group (running as root)
	started  time.Time    // names archived files
	commit   *committer   // batches fsyncs (fsync: true on Linux); nil: per file
	flush    func() error // flushes the destination filesystem; nil where unsupported

	mu          sync.Mutex
	dirs        []*dirMeta           // every destination folder seen, for the metadata pass
	extras      []extra              // destination entries with no source counterpart
	failures    []*FileError         // the first maxListedFailures
	readFailed  bool                 // a source folder could not be read: delete nothing
	brake       string               // why deletions are refused, "" when they are not
	sweepTemps  bool                 // look for temp files in extra destination folders (see sweepKept)
	busyWithin  time.Duration        // see writeOptions.busyWithin
	holdWriters time.Duration        // see writeOptions.holdWriters
	kept        []string             // extra destination folders, for sweepKept
	written     *settle.WrittenFiles // files to copy even where size and mtime match (a roll-up's Written events)

	idx      *index.DB // what copyd wrote; nil: no memory (today's quick check only)
	stateDir string    // where a one-shot run opens idx
	// trustDest lets a scan take the listing of a destination folder
	// whose ctime is the recorded one from its records (dirUnchanged):
	// set for one-shot runs and the daemon's first pass, not for the
	// periodic rescans, which list and stat everything.
	trustDest bool
	// kidRecords reads the records of a folder's subfolders in batches
	// (kids.go): one-shot runs and the daemon's first pass, which walk
	// whole trees.
	kidRecords bool
	paused     *atomic.Pointer[error] // set when the destination refuses writes; shared by a pair's passes
	kind       runKind                // what differs between a one-shot run and the daemon (runkind.go)
	live       *livePair              // the daemon's pair this pass serves, for its own steps (moves, room); nil for a one-shot run
	roomDone   bool                   // a one-shot pass made room in its full destination: another pass copies the rest
	recopied   int64                  // files the passes before this one copied, which it finds up to date (see again)
}

// extra is a destination entry whose source counterpart is gone.
type extra struct {
	rel   string
	isDir bool
	in    *dirMeta
}

// srcPath and dstPath turn a slash-separated relative path into an absolute one.
func (r *pairRun) srcPath(rel string) string {
	return filepath.Join(r.pair.Source, filepath.FromSlash(rel))
}

func (r *pairRun) dstPath(rel string) string {
	return filepath.Join(r.pair.Destination, filepath.FromSlash(rel))
}

// fail records a final failure on rel: one log line, counted, listed.
// In the daemon the path is tried again later, with back-off.
func (r *pairRun) fail(op, rel string, err error) {
	r.record(op, rel, err)
	r.kind.failed(r, op, rel, err)
}

// pause stops the pair after the destination refused a write (full,
// read-only): every later write would fail the same way. The reason is
// logged once; each refused path is counted and listed.
// The daemon resumes the pair by itself once the destination takes writes.
// A full destination of a pair that mirrors deletions first gets a room
// pass (room.go), which decides whether the pair stops.
func (r *pairRun) pause(op, rel string, err error) {
	if r.paused.CompareAndSwap(nil, &err) {
		if r.roomMayHelp() {
			r.log.Warn("destination is full; deleting what the source no longer has before copying the rest",
				"path", rel, "op", op, "err", err)
		} else {
			r.logRefused("path", rel, "op", op, "err", err)
		}
		r.kind.wake()
	}
	r.record(op, rel, err)
}

// logRefused logs, once per pause, that the pair stopped because its
// destination refuses writes, and what to do.
func (r *pairRun) logRefused(attrs ...any) { r.kind.refused(r, attrs...) }

// failOrPause handles a final error of a step that writes to the
// destination: a full or read-only destination pauses the pair, anything
// else fails that path alone.
func (r *pairRun) failOrPause(op, rel string, err error) {
	if classify(err) == kindPause {
		r.pause(op, rel, err)
	} else {
		r.fail(op, rel, err)
	}
}

// record counts a failed path and lists it (the first maxListedFailures).
func (r *pairRun) record(op, rel string, err error) {
	if r.kind.noteFailure(op, rel, err) {
		r.progress.Failed.Add(1)
	}
	r.mu.Lock()
	if len(r.failures) < maxListedFailures {
		r.failures = append(r.failures, &FileError{Pair: r.pair.Name, Op: op, Path: rel, Err: err})
	}
	r.mu.Unlock()
}

func (r *pairRun) isPaused() bool { return r.paused.Load() != nil }

// planLine prints one dry-run line: an action and a quoted path.
func (r *pairRun) planLine(action, rel string, extra ...string) {
	r.planMu.Lock()
	defer r.planMu.Unlock()
	line := fmt.Sprintf("%-7s %s: %s", action, r.pair.Name, strconv.Quote(rel))
	for _, e := range extra {
		line += " " + e
	}
	fmt.Fprintln(r.plan, line)
}

// retry runs op until it succeeds or fails for good, and handles the
// outcome: a vanished source is dropped, a source that changed is copied
// again after a short pause (a few times), transient errors are retried
// with back-off, a full or read-only destination pauses the pair.
//
// In the daemon op runs once: a changed source is queued again to be copied
// once it settles, other failures are retried later through the queue
// (never by sleeping in a worker).
func (r *pairRun) retry(ctx context.Context, opName, rel string, op func() error) bool {
	return r.kind.retry(ctx, r, opName, rel, op)
}

// retryHere is the one-shot run's retry policy: it waits in the worker.
func (r *pairRun) retryHere(ctx context.Context, opName, rel string, op func() error) bool {
	changed, transient := 0, 0
	for {
		if r.isPaused() {
			return false
		}
		err := op()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		var wait time.Duration
		switch classify(err) {
		case kindDrop:
			r.log.Debug("source vanished", "path", rel, "op", opName)
			return false
		case kindChanged:
			if changed++; changed > maxChangedRetries {
				r.fail(opName, rel, fmt.Errorf("gave up after %d tries: %w", changed, err))
				return false
			}
			wait = changedBackoff << (changed - 1)
			r.log.Debug("source changed while copying; copying again", "path", rel)
		case kindRetry:
			if transient++; transient > maxTransientRetries {
				r.fail(opName, rel, err)
				return false
			}
			wait = transientBackoff << (transient - 1)
			r.log.Warn(opName+" failed; will retry", "path", rel, "err", err, "in", wait)
		case kindPause:
			r.pause(opName, rel, err)
			return false
		default:
			r.fail(opName, rel, err)
			return false
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return false
		}
	}
}

// One-shot retry policy; the daemon reschedules through its queue instead.
const (
	maxChangedRetries   = 5
	changedBackoff      = 100 * time.Millisecond
	maxTransientRetries = 2
	transientBackoff    = time.Second
)

// relJoin joins a folder's relative path and a name, slash-separated.
func relJoin(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// errIsNotExist reports whether err says a path does not exist.
func errIsNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
