package sync

import (
	"context"
	"errors"
	"fmt"
	"github.com/copyd/copyd/sync/workpool"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/internal/exclude"
)

// Options configure a [Sync].
type Options struct {
	// Workers is the number of concurrent copies shared by all pairs (>= 1).
	Workers int
	// DryRun lists what would be copied or deleted on Plan and changes nothing.
	DryRun bool
	// Plan receives the dry-run lines; nil discards them.
	Plan io.Writer
	// Log receives per-file failures (Error), retries (Warn), pair
	// summaries (Info) and per-file events (Debug); nil logs nothing.
	Log *slog.Logger
	// Progress, when set, is updated live; a nil one is allocated.
	Progress *Progress
	// StateDir holds the pairs' indexes ("": none, every run compares as
	// a first one does).
	StateDir string
}

// Sync brings every pair's destination in step with its source once: a
// concurrent scan of each source feeds one pool of Workers copies, fair
// between pairs; then extra destination entries are deleted (delete: true)
// and folder metadata is set. It returns when all work has ended.
//
// A destination that fills up pauses its pair. With delete: true the pair
// then deletes what its source no longer has first (rsync's
// --delete-before, brakes and all) and, if that removed anything, makes
// another pass for the copies that did not fit.
//
// Per-file failures do not stop the run: they are logged, counted in
// Summary.Failed and listed in Summary.Failures. The error is non-nil only
// when ctx ended or a pair could not start (its source is gone, or it is not
// a folder); the Summary still counts what was done.
func Sync(ctx context.Context, pairs []config.Pair, o Options) (Summary, error) {
	start := time.Now()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Plan == nil {
		o.Plan = io.Discard
	}
	if o.Progress == nil {
		o.Progress = new(Progress)
	}
	pool := workpool.New(ctx, o.Workers)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		errs     []error
		failures []*FileError
		planMu   sync.Mutex
	)
	for _, p := range pairs {
		r := &pairRun{
			pair:       p,
			excl:       exclude.New(p.Exclude),
			queue:      pool.NewQueue(4 * max(o.Workers, 1)),
			log:        o.Log.With("pair", p.Name),
			progress:   o.Progress.child(),
			dryRun:     o.DryRun,
			plan:       o.Plan,
			planMu:     &planMu,
			owner:      canChown(),
			started:    start,
			paused:     new(atomic.Pointer[error]),
			stateDir:   o.StateDir,
			trustDest:  !p.Checksum,
			kidRecords: true,
			kind:       oneShot{},
			// Each run is a start: temps of a crash may sit anywhere.
			sweepTemps: !o.DryRun,
		}
		wg.Go(func() {
			last, err := runRounds(ctx, r, scanners(o.Workers, len(pairs)))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			failures = append(failures, last.failures...)
		})
	}
	wg.Wait()
	pool.Close()
	if len(failures) > maxListedFailures {
		failures = failures[:maxListedFailures]
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return o.Progress.summary(time.Since(start), failures), errors.Join(errs...)
}

// scanners is how many folders one pair reads at a time: enough to keep
// the disk's queue full, not so many that pairs crowd each other.
func scanners(workers, pairs int) int {
	return min(max(workers/max(pairs, 1), 2), 8)
}

// run makes one full pass over the pair.
func (r *pairRun) run(ctx context.Context, scanners int) error {
	start := time.Now()
	root, err := lstatPath(r.pair.Source)
	if err != nil {
		return fmt.Errorf("pair %s: source: %w", r.pair.Name, err)
	}
	if !root.IsDir() {
		return fmt.Errorf("pair %s: source %s is not a folder", r.pair.Name, r.pair.Source)
	}
	dst, err := r.prepareDestRoot()
	if err != nil {
		r.pause(opCreateDest, "", err)
		if r.roomMayHelp() {
			r.roomMade(ctx, scanners) // nothing to delete: it logs why the pair stops
		}
		return nil
	}
	if r.idx, err = openIndex(r.pair, r.stateDir, r.dryRun, r.log); err != nil {
		return fmt.Errorf("pair %s: %w", r.pair.Name, err)
	}
	if r.idx != nil {
		defer r.idx.Close()
	}
	if r.pair.Fsync && !r.dryRun {
		if flush, release, err := fsFlusher(r.pair.Destination); err == nil {
			defer release()
			r.flush = flush
			r.commit = newCommitter(r, flush)
		}
	}
	r.log.Info("scan started", "source", r.pair.Source, "destination", r.pair.Destination)
	r.progress.Scanning.Add(1)
	walk(ctx, scanners, dirItem{src: root, dst: dst}, r.scanDir)
	r.progress.Scanning.Add(-1)
	r.queue.Wait()
	if r.commit != nil {
		r.commit.close()
	}
	r.sweepKept(ctx)
	r.deleteExtras(ctx)
	if r.roomMayHelp() && ctx.Err() == nil {
		if r.roomDone = r.roomMade(ctx, scanners); r.roomDone {
			return nil // runRounds makes another pass
		}
	}
	if !r.dryRun && !r.isPaused() && ctx.Err() == nil {
		r.finishDirs()
	}
	r.progress.UpToDate.Add(-min(r.recopied, r.progress.UpToDate.Load()))
	r.log.Info("pair done",
		"files", r.progress.FilesDone.Load(),
		"bytes", r.progress.BytesDone.Load(),
		"up_to_date", r.progress.UpToDate.Load(),
		"failed", r.progress.Failed.Load(),
		"dur", time.Since(start).Round(time.Millisecond))
	return nil
}

// prepareDestRoot creates the destination root with its parents (as the
// original copier did) and returns what stood there before (nil if
// nothing). A symlink standing in for the root is followed: the user named
// that path.
func (r *pairRun) prepareDestRoot() (fs.FileInfo, error) {
	fi, err := lstatPath(r.pair.Destination)
	if err == nil {
		if !fi.IsDir() {
			return nil, fmt.Errorf("destination %s is not a folder", r.pair.Destination)
		}
		return fi, nil
	}
	if !errIsNotExist(err) {
		return nil, err
	}
	if r.dryRun {
		r.planLine("mkdir", ".")
		return nil, nil
	}
	if err := mkdirAllPath(r.pair.Destination, 0o755); err != nil {
		return nil, err
	}
	return nil, nil
}
