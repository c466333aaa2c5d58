package sync

import (
	"context"
	"errors"
	"github.com/copyd/copyd/internal/lease"
	"github.com/copyd/copyd/sync/settle"
	"github.com/copyd/copyd/sync/workpool"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/index"
	"github.com/copyd/copyd/internal/exclude"
	"github.com/copyd/copyd/internal/tempname"
	"github.com/copyd/copyd/watcher"
)

// State is what a pair of the daemon is doing.
type State int32

// The states of a pair, as the status reports them.
const (
	StateWaiting  State = iota // the source is missing; checked every few seconds
	StateScanning              // the first full pass runs
	StateWatching              // in step, copying changes as they come
	StateDegraded              // watching only part of the tree (watch limit); rescans fill the gap
	StatePaused                // the destination refuses writes; retried until it takes them
	StateStopped
	StateCopying // in step but for the changes being copied now
)

// String returns the state's name in lowercase.
func (s State) String() string {
	switch s {
	case StateWaiting:
		return "waiting"
	case StateScanning:
		return "scanning"
	case StateWatching:
		return "watching"
	case StateDegraded:
		return "degraded"
	case StatePaused:
		return "paused"
	case StateCopying:
		return "copying"
	}
	return "stopped"
}

// Timings of the daemon's pairs.
const (
	sourcePoll        = 2 * time.Second  // how often a missing source is looked for
	degradedRescan    = time.Minute      // rescan period of a pair the watcher cannot fully cover
	progressEvery     = 10 * time.Second // live counts while a full pass runs
	maxRetryBackoff   = 5 * time.Minute  // back-off of a failing path: 1 s doubling to this
	firstProbe        = 5 * time.Second  // first check whether a paused destination takes writes
	maxProbe          = time.Minute
	maxScansPerPair   = 2 // folder and tree scans of one pair at a time
	probeWriteBytes   = 64 << 10
	scansQueueFactor  = 4 // queue capacity per worker
	errorLogThreshold = maxRetryBackoff
)

// livePair keeps one pair in step while the daemon runs: it waits for the
// source, watches it, makes a full pass, then turns settled events into
// copies on the daemon's pool. Its loop goroutine (run) owns the fields
// marked "loop"; the rest is safe for concurrent use.
type livePair struct {
	pair     config.Pair
	pool     *workpool.Pool
	workers  int
	settleD  time.Duration
	maxDelay time.Duration
	holdOpen bool // the watcher reports closes: a file being written waits for its writer
	rescan   time.Duration
	stateDir string
	log      *slog.Logger
	excl     *exclude.Matcher
	owner    bool
	progress *Progress
	planMu   sync.Mutex
	metrics  Metrics // nil: none
	stats    pairStats

	state    atomic.Int32
	degraded atomic.Bool
	paused   atomic.Pointer[error]
	gone     atomic.Bool   // a job found the source root missing
	braked   atomic.Bool   // deletions are refused (empty source root); logged once
	wakeLoop chan struct{} // cap 1: a job finished, the pair paused or its source vanished
	watches  atomic.Int64

	roomDeleted atomic.Int64 // what the pause's room pass deleted (see startRoom)

	// Folders with changes not copied yet, as noted in the index (see
	// noteUnfinished); unfinMu is held around each note and the settle
	// queue's Add that goes with it, and around forgetting them.
	unfinMu    sync.Mutex
	unfinished map[string]bool
	notes      atomic.Pointer[index.DB] // the index to note them in; nil: none

	// Set by serve before any job runs, read by jobs.
	settle *settle.Queue
	queue  *workpool.Queue
	base   *pairRun   // the pass path jobs run in
	idx    *index.DB  // the pair's index while it serves; nil: none
	commit *committer // batches the fsyncs of scans; path jobs fsync their file alone
	flush  func() error

	mu       sync.Mutex
	copying  map[string]bool        // paths a copy job holds (see pairRun.copyOne)
	finished []settle.Work          // jobs done since the loop last looked
	attempts map[string]int         // failed attempts per path, until one succeeds
	failing  map[string]FailingPath // the same paths: what failed, since when (also in the index)
	dirty    map[string]bool        // destination folders whose metadata must be set again
	links    *linkIndex             // names of hard-linked source files; new at each serve
	staged   map[string]staged      // files moved aside for a new path until proven (see matchMoves)
	stagedN  atomic.Int32           // len(staged), read without mu

	// While loadFailures retries the paths that failed before the start,
	// preRetry is set and the paths failing again go to preFailed: the
	// first pass, which meets them again, does not count them twice.
	preRetry  bool
	preFailed map[string]bool

	// loop
	inflight map[settle.Work]bool // by key()
	again    map[settle.Work]bool // by key(): run again once done; true: the content was written meanwhile
	scans    []settle.Work        // folder and tree scans waiting for a slot
	held     []held               // deletions held back: the path may have been renamed
	running  int                  // path jobs and scans running
	scanning int                  // scans running
}

func newLivePair(p config.Pair, cfg *config.Config, pool *workpool.Pool, log *slog.Logger) *livePair {
	lp := &livePair{
		pair:     p,
		pool:     pool,
		workers:  cfg.Workers,
		settleD:  cfg.Settle,
		maxDelay: cfg.MaxDelay,
		rescan:   cfg.Rescan,
		stateDir: cfg.StateDir,
		log:      log.With("pair", p.Name),
		excl:     exclude.New(p.Exclude),
		owner:    canChown(),
		progress: new(Progress),
		wakeLoop: make(chan struct{}, 1),
		attempts: make(map[string]int),
		failing:  make(map[string]FailingPath),
		copying:  make(map[string]bool),
		dirty:    make(map[string]bool),
	}
	lp.links = newLinkIndex(lp.log)
	lp.state.Store(int32(StateWaiting))
	return lp
}

// State returns what the pair is doing now.
func (lp *livePair) State() State { return State(lp.state.Load()) }

func (lp *livePair) setState(s State) { lp.state.Store(int32(s)) }

// poke wakes the loop.
func (lp *livePair) poke() {
	select {
	case lp.wakeLoop <- struct{}{}:
	default:
	}
}

// run serves the pair until ctx ends: whenever the source is there, serve;
// when it vanishes, wait for it to come back.
func (lp *livePair) run(ctx context.Context, ready func()) {
	defer lp.setState(StateStopped)
	for ctx.Err() == nil {
		if !lp.waitForSource(ctx, ready) {
			return
		}
		lp.serve(ctx, ready)
	}
}

// waitForSource returns true once the source root is a folder, false when
// ctx ends first. ready is called when the pair starts waiting.
func (lp *livePair) waitForSource(ctx context.Context, ready func()) bool {
	fi, err := lstatPath(lp.pair.Source)
	if err == nil && fi.IsDir() {
		return true
	}
	lp.setState(StateWaiting)
	if err == nil {
		err = errors.New("not a folder")
	}
	lp.log.Warn("waiting for source; deleting nothing while it is missing, and copying again once it is back",
		"source", lp.pair.Source, "err", err)
	ready()
	t := time.NewTicker(sourcePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			if fi, err := lstatPath(lp.pair.Source); err == nil && fi.IsDir() {
				lp.log.Info("source is back", "source", lp.pair.Source)
				return true
			}
		}
	}
}

// serve watches the source, makes a full pass and then copies changes as
// they settle, until ctx ends or the source root vanishes.
func (lp *livePair) serve(ctx context.Context, ready func()) {
	lp.setState(StateScanning)
	lp.gone.Store(false)
	lp.degraded.Store(false)
	lp.paused.Store(nil)
	lp.settle = settle.New(lp.settleD, lp.maxDelay)
	lp.unfinMu.Lock()
	lp.unfinished = make(map[string]bool)
	lp.unfinMu.Unlock()
	lp.holdOpen = watcher.ReportsClose()
	if lp.holdOpen {
		src := lp.pair.Source
		lp.settle.Probe = func(rel string) bool { return lease.WriterHolds(filepath.Join(src, filepath.FromSlash(rel))) }
	}
	lp.queue = lp.pool.NewQueue(scansQueueFactor * lp.workers)
	lp.inflight = make(map[settle.Work]bool)
	lp.again = make(map[settle.Work]bool)
	lp.scans = nil
	lp.held = nil
	lp.links = newLinkIndex(lp.log) // a new start may see another disk
	lp.mu.Lock()
	lp.idx, lp.preFailed = nil, nil
	lp.mu.Unlock()
	lp.base = lp.newPass(lp.queue)

	// What the source path names now: a disk unmounted from it or mounted
	// over it changes that without an event (fsnotify drops IN_UNMOUNT).
	root, err := lstatPath(lp.pair.Source)
	if err != nil {
		return // vanished: wait for it again
	}
	// The destination root and the index (its check reads the whole
	// database) are made ready while the watcher walks the source.
	type opened struct {
		prepErr, err error
		idx          *index.DB
	}
	openDone := make(chan opened, 1)
	go func() {
		var o opened
		if _, o.prepErr = lp.base.prepareDestRoot(); o.prepErr == nil {
			o.idx, o.err = openIndex(lp.pair, lp.stateDir, false, lp.log)
		}
		openDone <- o
	}()
	// Watch first, then scan: what changes during the scan is queued.
	w, err := watcher.New(ctx, watcher.Options{
		Root:    lp.pair.Source,
		Exclude: lp.excl.Excluded,
		Log:     lp.log,
		Notify:  lp.onEvent,
	})
	if err != nil {
		if _, serr := lstatPath(lp.pair.Source); serr != nil {
			if o := <-openDone; o.idx != nil {
				o.idx.Close()
			}
			return // vanished: wait for it again
		}
		lp.degraded.Store(true)
		lp.log.Error("cannot watch the source; finding changes by rescanning every minute", "err", err)
	} else {
		defer w.Close()
	}

	if o := <-openDone; o.prepErr != nil {
		lp.base.pause(opCreateDest, "", o.prepErr)
	} else {
		idx, err := o.idx, o.err
		if err != nil {
			lp.log.Error("pair not started: "+err.Error(), "destination", lp.pair.Destination)
			ready()
			lp.waitFor(ctx, sourcePoll*5)
			return
		}
		if idx != nil {
			lp.mu.Lock()
			lp.idx = idx
			lp.mu.Unlock()
			lp.base.idx = idx
			lp.notes.Store(idx)
			defer func() {
				lp.notes.Store(nil)
				lp.mu.Lock()
				lp.idx = nil
				lp.mu.Unlock()
				idx.Close()
			}()
			lp.loadFailures(ctx)
		}
	}
	if !lp.isPaused() && lp.pair.Fsync {
		if flush, release, err := fsFlusher(lp.pair.Destination); err == nil {
			defer release()
			lp.flush = flush
			// Path jobs (lp.base) fsync each file: a filesystem flush
			// would wait for everything anyone wrote to that disk (a video
			// being saved into the source, say), which a single file's
			// latency must not. Scans, which copy many files, batch.
			lp.commit = newCommitter(lp.base, flush)
			lp.base.flush = flush
			defer func() { lp.commit.close(); lp.commit, lp.flush = nil, nil }()
		}
	}

	// Ready: the source is watched, so no change is missed from here on;
	// the first full pass may take hours on a big library, and systemd
	// must not time out waiting for it.
	ready()
	start := time.Now()
	if !lp.isPaused() {
		lp.scanUnfinished(ctx)
	}
	if !lp.isPaused() {
		if err := lp.initialPass(ctx); err != nil {
			return
		}
	}
	lp.mu.Lock()
	lp.preFailed = nil // from here on every failed attempt counts
	lp.mu.Unlock()
	if !lp.isPaused() {
		lp.finishedAll() // unless changes came during the pass: then once they are copied
	}
	if ctx.Err() != nil {
		return
	}
	if w != nil {
		lp.watches.Store(int64(w.Watches()))
	}
	lp.setState(lp.runningState())
	lp.log.Info("watching",
		"files", lp.progress.FilesDone.Load(),
		"bytes", lp.progress.BytesDone.Load(),
		"up_to_date", lp.progress.UpToDate.Load(),
		"failed", lp.progress.Failed.Load(),
		"watches", lp.watches.Load(),
		"dur", time.Since(start).Round(time.Millisecond))
	lp.loop(ctx, w, root)
}

// initialPass makes the first full pass, logging live counts while it runs.
func (lp *livePair) initialPass(ctx context.Context) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				lp.log.Info("copying",
					"files", lp.progress.FilesDone.Load(),
					"of", lp.progress.FilesQueued.Load(),
					"bytes", lp.progress.BytesDone.Load(),
					"up_to_date", lp.progress.UpToDate.Load(),
					"failed", lp.progress.Failed.Load())
			}
		}
	})
	lp.log.Info("initial copy started", "source", lp.pair.Source, "destination", lp.pair.Destination)
	return lp.scan(ctx, "", true, true, nil)
}

func (lp *livePair) runningState() State {
	switch {
	case lp.isPaused():
		return StatePaused
	case lp.degraded.Load():
		return StateDegraded
	}
	return StateWatching
}

func (lp *livePair) isPaused() bool { return lp.paused.Load() != nil }

// onEvent files a watcher event in the settle queue; it never blocks.
func (lp *livePair) onEvent(ev watcher.Event) {
	lp.unfinMu.Lock()
	defer lp.unfinMu.Unlock()
	switch ev.Kind {
	case watcher.Removed, watcher.Written, watcher.Changed, watcher.Attrib:
		if ev.Rel != "" {
			lp.noteUnfinished(settle.Parent(ev.Rel))
		}
	case watcher.DirAdded:
		lp.noteUnfinished(ev.Rel)
	}
	switch ev.Kind {
	case watcher.Removed:
		if ev.Rel == "" {
			// The root went (moved, deleted, replaced): its watch is gone
			// with it, so start over once a source is there again.
			lp.gone.Store(true)
			lp.poke()
			return
		}
		lp.settle.WriterClosed(ev.Rel) // a name that went is written by nobody
	case watcher.Written:
		if lp.holdOpen {
			lp.settle.WriterOpen(ev.Rel)
		} else {
			lp.settle.AddWritten(ev.Rel)
		}
	case watcher.Closed:
		lp.settle.WriterClosed(ev.Rel)
	case watcher.Changed:
		if lp.holdOpen {
			lp.settle.MaybeOpen(ev.Rel)
		} else {
			lp.settle.Add(ev.Rel, settle.Path)
		}
	case watcher.Attrib:
		lp.settle.Add(ev.Rel, settle.Path)
	case watcher.DirAdded:
		lp.settle.Add(ev.Rel, settle.Tree)
	case watcher.Rescan:
		if ev.Rel == "" {
			lp.settle.RescanAll()
		} else {
			lp.settle.Add(ev.Rel, settle.Tree)
		}
	case watcher.Degraded:
		lp.degraded.Store(true)
		lp.poke()
	}
}

// loop hands settled work to the pool until ctx ends, or the source path
// vanishes or names another folder than root, the one watched; then it
// waits for the work it started.
func (lp *livePair) loop(ctx context.Context, w *watcher.Watcher, root fs.FileInfo) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	rootCheck := time.NewTicker(sourcePoll)
	defer rootCheck.Stop()
	rescan := lp.newRescanTimer()
	defer rescan.Stop()
	var probe *time.Timer
	probeEvery := firstProbe
	var resumed time.Time // when the pair last resumed after a pause
	roomTried := false    // this pause had its room pass
	defer func() {
		if probe != nil {
			probe.Stop()
		}
	}()
	changes := newChangeLog(lp.progress, lp.log)
	var summary *time.Timer // armed while a "changes copied" line waits
	defer func() {
		if summary != nil {
			summary.Stop()
		}
	}()
	degraded := lp.degraded.Load()
	for {
		var probeC, summaryC <-chan time.Time
		if probe != nil {
			probeC = probe.C
		}
		if summary != nil {
			summaryC = summary.C
		}
		select {
		case <-ctx.Done():
			lp.drain(w)
			return
		case <-lp.settle.Wake():
		case <-lp.wakeLoop:
		case <-summaryC:
			summary = nil
			if lp.running == 0 {
				changes.flush(time.Now())
			}
		case <-timer.C:
		case <-rootCheck.C:
			if fi, err := lstatPath(lp.pair.Source); err == nil && !sameFile(fi, root) {
				lp.log.Warn("source folder changed under copyd (a disk unmounted from it or mounted over it, or the folder replaced); deleting nothing and starting over with a full pass",
					"source", lp.pair.Source)
				lp.drain(w)
				return
			} else if err != nil {
				lp.gone.Store(true)
			}
		case <-rescan.C:
			lp.log.Info("periodic rescan")
			lp.settle.RescanAll()
			rescan.Reset(lp.rescanPeriod())
		case <-probeC:
			probe = nil
			if err := probeWritable(lp.pair.Destination); err != nil {
				probeEvery = min(2*probeEvery, maxProbe)
				probe = time.NewTimer(probeEvery)
				lp.log.Debug("destination still refuses writes", "err", err, "next", probeEvery)
			} else {
				lp.paused.Store(nil)
				resumed, roomTried = time.Now(), false
				lp.log.Info("destination takes writes again; resuming with a full rescan")
				lp.settle.RescanAll()
			}
		}
		lp.collectFinished()
		if lp.gone.Load() {
			lp.log.Error("source folder is gone; deleting nothing and watching again once it is back", "source", lp.pair.Source)
			lp.drain(w)
			return
		}
		if lp.isPaused() && probe == nil && lp.running == 0 {
			// A full destination that deletions may cure gets a room pass
			// (room.go) once the work in flight has stopped; otherwise,
			// or once that deleted nothing, it is probed until it takes
			// writes.
			switch {
			case !roomTried && lp.base.roomMayHelp():
				roomTried = true
				lp.startRoom(ctx)
			case roomTried && lp.roomDeleted.Load() > 0:
				lp.paused.Store(nil)
				resumed, roomTried = time.Now(), false
				lp.log.Info("room made; resuming with a full rescan", "deleted", lp.roomDeleted.Load())
				lp.settle.RescanAll()
			default:
				if roomTried {
					lp.base.logRefused("err", *lp.paused.Load())
				}
				// Paused again soon after resuming (room for the probe
				// but not for the files): keep backing off.
				if time.Since(resumed) > maxProbe {
					probeEvery = firstProbe
				} else {
					probeEvery = min(2*probeEvery, maxProbe)
				}
				probe = time.NewTimer(probeEvery)
			}
		}
		if lp.isPaused() {
			lp.setState(StatePaused)
			continue
		}
		if !degraded && lp.degraded.Load() {
			// The watcher found the watch limit: rescan every minute from now.
			degraded = true
			rescan.Reset(lp.rescanPeriod())
		}
		work, full, next := lp.settle.Due(time.Now())
		if full {
			lp.enqueueScan(settle.Work{Rel: "", Kind: settle.Tree})
		}
		work = lp.applyMoves(ctx, work, time.Now())
		if h := lp.nextHeld(); !h.IsZero() && (next.IsZero() || h.Before(next)) {
			next = h
		}
		for _, s := range work {
			if s.Kind == settle.Path {
				lp.startPath(ctx, s)
			} else {
				lp.enqueueScan(s)
			}
		}
		lp.startScans(ctx)
		if st := lp.runningState(); st == StateWatching && lp.running > 0 {
			lp.setState(StateCopying)
		} else {
			lp.setState(st)
		}
		if lp.running > 0 {
			changes.working(time.Now())
		} else if changes.busyUntilNow() {
			// A burst of work just ended.
			lp.finishDirty(ctx)
			if lp.braked.Load() && lp.rootBrake() == "" {
				lp.releaseBrake()
			}
			if at := changes.idle(time.Now()); !at.IsZero() && summary == nil {
				summary = time.NewTimer(time.Until(at))
			}
		}
		if w != nil {
			lp.watches.Store(int64(w.Watches()))
		}
		queued := lp.settle.Len() + lp.running + len(lp.scans) + len(lp.held)
		lp.stats.queued.Store(int64(queued))
		if queued == 0 {
			lp.finishedAll()
		}
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), 0))
		}
	}
}

// noteUnfinished records in the index, once until the pair is idle
// again, that the folder dir has changes waiting to be copied: a start
// after a crash or a reboot scans those folders first, before its full
// pass (which would find the changes too, but may take minutes on a big
// tree). The caller holds unfinMu.
func (lp *livePair) noteUnfinished(dir string) {
	if lp.unfinished[dir] {
		return
	}
	if idx := lp.notes.Load(); idx != nil {
		lp.unfinished[dir] = true
		idx.Unfinished(dir)
	}
}

// finishedAll forgets the noted folders once nothing is pending, queued
// or running: their changes are all copied (or failing, which the index
// keeps apart).
func (lp *livePair) finishedAll() {
	lp.unfinMu.Lock()
	defer lp.unfinMu.Unlock()
	if len(lp.unfinished) == 0 || lp.settle.Len() > 0 {
		return
	}
	clear(lp.unfinished)
	if idx := lp.notes.Load(); idx != nil {
		idx.FinishedAll()
	}
}

// maxUnfinishedFirst bounds the folders a start scans before its full
// pass: past it, a burst was under way, and the full pass finds it all
// once, not twice.
const maxUnfinishedFirst = 1000

// scanUnfinished scans, before the full pass, the folders that had
// changes waiting when copyd last stopped without finishing them.
func (lp *livePair) scanUnfinished(ctx context.Context) {
	idx := lp.notes.Load()
	if idx == nil {
		return
	}
	dirs := idx.UnfinishedFolders(ctx)
	if len(dirs) == 0 {
		return
	}
	lp.unfinMu.Lock()
	for _, d := range dirs {
		lp.unfinished[d] = true // forgotten once the pair is idle
	}
	lp.unfinMu.Unlock()
	if len(dirs) > maxUnfinishedFirst {
		lp.log.Info("changes were waiting in many folders when copyd stopped; the full pass brings them", "folders", len(dirs))
		return
	}
	lp.log.Info("scanning first the folders whose changes were not copied before copyd stopped", "folders", len(dirs))
	for _, d := range dirs {
		if ctx.Err() != nil || lp.isPaused() {
			return
		}
		if d != "" && lp.excl.Excluded(d, true) {
			continue
		}
		if err := lp.scan(ctx, d, false, false, nil); err != nil {
			return
		}
	}
}

// loadFailures takes up the paths that were failing when copyd last
// stopped (a crash, a reboot): they are listed again, and retried first,
// before the full pass.
func (lp *livePair) loadFailures(ctx context.Context) {
	list := lp.idx.Failures(ctx)
	if len(list) == 0 {
		return
	}
	lp.mu.Lock()
	for _, f := range list {
		lp.attempts[f.Path] = f.Attempts
		lp.failing[f.Path] = FailingPath{Path: f.Path, Op: f.Op, Err: f.Err, Since: f.Since, Last: f.Last, Attempts: f.Attempts}
	}
	lp.preRetry, lp.preFailed = true, make(map[string]bool)
	lp.mu.Unlock()
	defer func() {
		lp.mu.Lock()
		lp.preRetry = false
		lp.mu.Unlock()
	}()
	lp.log.Info("retrying the paths that failed before the restart", "paths", len(list))
	for _, f := range list {
		if ctx.Err() != nil || lp.isPaused() {
			return
		}
		if !retriedAsTree(f.Op) {
			lp.syncPath(ctx, f.Path, false)
		}
	}
}

// waitFor waits d, or less if ctx ends.
func (lp *livePair) waitFor(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// drain stops the watcher and waits for the work already started.
func (lp *livePair) drain(w *watcher.Watcher) {
	if w != nil {
		w.Close()
	}
	lp.scans = nil
	for lp.running > 0 {
		<-lp.wakeLoop
		lp.collectFinished()
	}
	lp.dropStaged()
	lp.setState(StateStopped)
}

func (lp *livePair) newRescanTimer() *time.Timer {
	d := lp.rescanPeriod()
	if d == 0 {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return t
	}
	return time.NewTimer(d)
}

// rescanPeriod is the configured period jittered by ±25 % (so that many
// pairs and many machines do not rescan in step), a minute when degraded,
// and 0 when rescans are off.
func (lp *livePair) rescanPeriod() time.Duration {
	d := lp.rescan
	if lp.degraded.Load() && (d == 0 || d > degradedRescan) {
		return degradedRescan
	}
	if d == 0 {
		return 0
	}
	return d*3/4 + rand.N(d/2+1)
}

// startPath runs the path job s on the pool unless one for the same path
// is running; then it runs again once that one finished.
func (lp *livePair) startPath(ctx context.Context, s settle.Work) {
	if lp.inflight[s.Key()] {
		lp.again[s.Key()] = lp.again[s.Key()] || s.Written
		return
	}
	lp.inflight[s.Key()] = true
	lp.running++
	err := lp.queue.Submit(ctx, func(workCtx context.Context) {
		defer lp.jobDone(s.Key())
		if ctx.Err() != nil {
			return // stopping: what was not started waits for the next start
		}
		if lp.syncPath(workCtx, s.Rel, s.Written) && lp.metrics != nil && !s.First.IsZero() {
			lp.metrics.Propagated(lp.pair.Name, time.Since(s.First))
		}
	})
	if err != nil {
		delete(lp.inflight, s.Key())
		lp.running--
	}
}

func (lp *livePair) enqueueScan(s settle.Work) {
	if !slices.Contains(lp.scans, s) {
		lp.scans = append(lp.scans, s)
	}
}

// startScans starts waiting scans while fewer than maxScansPerPair run. A
// scan of the whole tree goes first.
func (lp *livePair) startScans(ctx context.Context) {
	if i := slices.Index(lp.scans, settle.Work{Rel: "", Kind: settle.Tree}); i > 0 {
		lp.scans = slices.Insert(slices.Delete(lp.scans, i, i+1), 0, settle.Work{Rel: "", Kind: settle.Tree})
	}
	for len(lp.scans) > 0 && lp.scanning < maxScansPerPair {
		s := lp.scans[0]
		lp.scans = lp.scans[1:]
		if lp.inflight[s] {
			lp.again[s] = false // present: run again; false: not a written file
			continue
		}
		lp.inflight[s] = true
		lp.running++
		lp.scanning++
		go func() {
			defer lp.jobDone(s)
			if err := lp.scan(ctx, s.Rel, s.Kind == settle.Tree, false, s.Writes); errors.Is(err, errSourceRootGone) {
				lp.gone.Store(true)
			}
		}()
	}
}

// jobDone reports a finished job to the loop.
func (lp *livePair) jobDone(s settle.Work) {
	lp.mu.Lock()
	lp.finished = append(lp.finished, s)
	lp.mu.Unlock()
	lp.poke()
}

// collectFinished books the jobs that ended; a path that had new work while
// its job ran is queued again.
func (lp *livePair) collectFinished() {
	lp.mu.Lock()
	done := lp.finished
	lp.finished = nil
	lp.mu.Unlock()
	for _, s := range done {
		delete(lp.inflight, s)
		lp.running--
		if s.Kind != settle.Path {
			lp.scanning--
		}
		if written, ok := lp.again[s]; ok {
			delete(lp.again, s)
			if written {
				lp.settle.AddWritten(s.Rel)
			} else {
				lp.settle.Add(s.Rel, s.Kind)
			}
		}
	}
}

// errSourceRootGone stops a pass: the source root vanished.
var errSourceRootGone = errors.New("source folder is gone")

// newPass returns the state of one pass (a scan or the path jobs) over the
// pair; passes share the pair's counters, pause and committer.
func (lp *livePair) newPass(q *workpool.Queue) *pairRun {
	return &pairRun{
		pair:     lp.pair,
		excl:     lp.excl,
		queue:    q,
		log:      lp.log,
		progress: lp.progress,
		plan:     io.Discard,
		planMu:   &lp.planMu,
		owner:    lp.owner,
		started:  time.Now(),
		idx:      lp.idx,
		commit:   lp.commit,
		flush:    lp.flush,
		paused:   &lp.paused,
		kind:     lp,
		live:     lp,
	}
}

// scan brings the folder rel in step: its entries, and with recursive
// everything below it (without, what is below the subfolders the
// destination lacks, and the mode, owner and mtime of those it has). It
// deletes extra entries when the pair mirrors deletions and no brake
// holds, and sets the metadata of the folders it saw. The files in writes
// are copied even where size and mtime match. With sweep (the first pass
// after a start) it also removes the temp files a crash left in extra
// destination folders.
func (lp *livePair) scan(ctx context.Context, rel string, recursive, sweep bool, writes *settle.WrittenFiles) error {
	r := lp.newPass(lp.pool.NewQueue(scansQueueFactor * lp.workers))
	r.written = writes
	r.sweepTemps = sweep
	r.trustDest = sweep && !lp.pair.Checksum // the first pass after a start
	r.kidRecords = r.trustDest
	if recursive {
		// A scan copies what it finds without a settle time: a file being
		// written is left to its own event. Roll-ups of pending paths
		// (not recursive) come after the settle time, like path jobs.
		r.busyWithin = lp.settleD
	}
	if lp.holdOpen {
		// A writer that paused with the file open makes no events a scan
		// could wait for: the scan asks the kernel (a read lease) about
		// files changed within max_delay and leaves those still open to
		// the settle queue, as if their writer had just written.
		r.holdWriters = lp.maxDelay
	}
	r.queue.SkipAfter(ctx) // once stopping, queued copies wait for the next start
	src, err := lstatPath(r.srcPath(rel))
	switch {
	case err != nil && rel == "":
		return errSourceRootGone
	case err != nil || !src.IsDir():
		lp.settle.Add(rel, settle.Path) // gone or no longer a folder
		return nil
	}
	var dst fs.FileInfo
	var parent *dirMeta
	var rec *index.Record
	if rel == "" {
		if dst, err = r.prepareDestRoot(); err != nil {
			r.failOrPause(opCreateDest, "", err)
			return nil
		}
	} else {
		if missing := lp.missingDestParent(rel); missing != "" {
			lp.settle.Add(missing, settle.Tree)
			return nil
		}
		dst, err = lstatPath(r.dstPath(rel))
		if err != nil && !errIsNotExist(err) {
			r.fail("stat destination", rel, err)
			return nil
		}
		if err != nil {
			dst = nil
		}
		parent = &dirMeta{rel: settle.Parent(rel)}
		// The parent's source and the folder's record let the scan tell an
		// unmounted disk's empty mount point from a folder emptied by hand
		// (mountGone), as a full pass does.
		if psrc, err := lstatPath(r.srcPath(parent.rel)); err == nil {
			parent.src = compactFolder(psrc)
		}
		rec = r.recordOf(ctx, rel)
	}
	visit := r.scanDir
	if !recursive {
		// Below a new folder everything is new, so the filter recurses
		// just there. A subfolder the destination has is not listed, but
		// its mode, owner and mtime are set: the events this scan stands
		// for (a roll-up of chmod -R or touch over the folder) include
		// its own. One on another disk than its record says is listed
		// (see mountGone).
		visit = func(ctx context.Context, it dirItem, push func(dirItem)) {
			r.scanDir(ctx, it, func(sub dirItem) {
				if sub.dst == nil || !sub.dst.IsDir() || onOtherDisk(sub) {
					push(sub)
				} else {
					r.addFolderMeta(sub)
				}
			})
		}
	}
	walk(ctx, scanners(lp.workers, 1), dirItem{rel: rel, src: src, dst: dst, parent: parent, rec: rec}, visit)
	r.queue.Wait()
	if lp.commit != nil {
		lp.commit.wait(ctx)
	}
	if r.pair.Delete && len(r.extras) > 0 && r.brake == "" {
		r.brake = lp.rootBrake()
	}
	r.sweepKept(ctx)
	r.deleteExtras(ctx)
	if ctx.Err() == nil && !r.isPaused() {
		r.finishDirs()
	}
	if rel != "" {
		lp.markDirty(settle.Parent(rel))
	}
	if rel == "" && recursive && ctx.Err() == nil {
		lp.stats.lastFull.Store(time.Now().UnixNano())
	}
	// A full pass that ran to its end without a failure since the start
	// proves the paths failing before it are in step; one cut short (copyd
	// stops, the pair pauses) proves nothing of the paths it did not reach.
	if rel == "" && recursive && ctx.Err() == nil && !r.isPaused() && lp.progress.Failed.Load() == 0 {
		lp.mu.Lock()
		for p := range lp.failing {
			if lp.idx != nil {
				lp.idx.Succeeded(p)
			}
		}
		clear(lp.attempts)
		clear(lp.failing)
		lp.mu.Unlock()
	}
	return nil
}

// missingDestParent returns the highest folder above rel that the
// destination lacks, "" when all of them are there.
func (lp *livePair) missingDestParent(rel string) string {
	missing := ""
	for dir := settle.Parent(rel); dir != ""; dir = settle.Parent(dir) {
		fi, err := lstatPath(lp.base.dstPath(dir))
		if err == nil && fi.IsDir() {
			break
		}
		missing = dir
	}
	return missing
}

// rootBrake says why nothing may be deleted now: the source root is gone
// or holds nothing copyd copies, only temp files and excluded entries or
// nothing at all (an unmounted disk must not wipe its backup). "" when
// deleting is fine.
func (lp *livePair) rootBrake() string {
	f, err := openDirPath(lp.pair.Source)
	if err != nil {
		return "the source folder cannot be read (" + err.Error() + ")"
	}
	defer f.Close()
	brake := brakeEmptyRoot
	for {
		// Names come in small batches: the first one copyd copies ends
		// the read, however large the root.
		des, err := f.ReadDir(16)
		for _, de := range des {
			switch {
			case tempname.Is(de.Name()):
			case lp.excl.Excluded(de.Name(), de.IsDir()):
				brake = brakeExcludedRoot
			default:
				return ""
			}
		}
		if err == io.EOF || err == nil && len(des) == 0 {
			return brake
		}
		if err != nil {
			return "the source folder cannot be read (" + err.Error() + ")"
		}
	}
}

// syncPath brings one path in step with what the source holds now. A
// written file is copied even when size and modification time match (a
// rewrite that restored the mtime, as cp -p and tar do).
//
// It reports whether it copied a file or symlink.
func (lp *livePair) syncPath(ctx context.Context, rel string, written bool) (copied bool) {
	r := lp.base
	defer lp.dropStagedFor(rel) // taken by takeStaged, or of no use now
	src, err := lstatPath(r.srcPath(rel))
	switch {
	case err != nil && rel == "":
		lp.gone.Store(true)
		return false
	case errIsNotExist(err) || errors.Is(err, syscall.ENOTDIR):
		lp.links.forget(rel)
		lp.removeDest(ctx, r, rel)
		return false
	case err != nil:
		r.fail("stat", rel, err)
		return false
	case rel != "" && r.excl.Excluded(rel, src.IsDir()):
		return false
	}
	if missing := lp.missingDestParent(rel); missing != "" {
		lp.settle.Add(missing, settle.Tree)
		return false
	}
	dst, err := lstatPath(r.dstPath(rel))
	if err != nil && !errIsNotExist(err) {
		r.fail("stat destination", rel, err)
		return false
	}
	if err != nil {
		dst = nil
	}
	in := &dirMeta{rel: settle.Parent(rel)}
	if fi, err := lstatPath(r.dstPath(in.rel)); err == nil {
		in.setgid = fi.Mode()&fs.ModeSetgid != 0
	}
	defer lp.markDirty(in.rel)
	switch {
	case src.IsDir():
		if dst == nil || !dst.IsDir() {
			lp.settle.Add(rel, settle.Tree)
			return false
		}
		if err := r.finishDir(&dirMeta{rel: rel, src: src, dst: dst}); err != nil {
			r.fail("set folder metadata", rel, err)
		} else {
			lp.recovered(rel, "set folder metadata")
		}
	case src.Mode().IsRegular():
		lp.handOnToLinks(rel, src, written)
		if lp.takeStaged(ctx, r, rel, src, in) {
			return true
		}
		rec := r.recordOf(ctx, rel)
		need := needCopy
		if !written {
			need = r.fileNeeds(src, dst, rec)
		}
		switch need {
		case needMetadata:
			r.markUpToDate(rel, src, dst, rec)
			return false
		case needCompare:
			r.compareAndCopy(ctx, rel, src, dst, rec, in)
			return false
		}
		r.progress.FilesQueued.Add(1)
		r.progress.BytesQueued.Add(src.Size())
		return r.copyOne(ctx, rel, src, dst, in)
	case src.Mode()&fs.ModeSymlink != 0:
		if r.symlinkUpToDate(rel, src, dst) {
			return false
		}
		r.progress.FilesQueued.Add(1)
		return r.linkOne(ctx, rel, dst, in)
	default:
		r.progress.Special.Add(1)
		r.log.Debug("special file skipped", "path", rel, "mode", src.Mode().String())
	}
	return false
}

// handOnToLinks queues the other names of the source file rel, a hard
// link, when the file changed: their copies need the change too, and the
// watcher reported it under rel only.
//
// A new name of a file with names copyd has not seen (a hard link made
// while copyd runs) has its folder scanned, which notes the names there:
// a write through the new name then reaches the old name's copy too.
func (lp *livePair) handOnToLinks(rel string, src fs.FileInfo, written bool) {
	knew := lp.links.knows(rel)
	defer func() {
		if lp.links.unseenNames(rel, src, knew) {
			lp.settle.Add(settle.Parent(rel), settle.Folder)
		}
	}()
	for _, other := range lp.links.changed(rel, src, written) {
		if written {
			lp.settle.AddWritten(other)
		} else {
			lp.settle.Add(other, settle.Path)
		}
	}
}

// removeDest deletes (or archives) what the destination holds at rel now
// that the source has nothing there, if the pair mirrors deletions and no
// brake holds.
func (lp *livePair) removeDest(ctx context.Context, r *pairRun, rel string) {
	lp.markDirty(settle.Parent(rel)) // the source folder's mtime changed either way
	if !lp.pair.Delete {
		return
	}
	dst, err := lstatPath(r.dstPath(rel))
	if err != nil {
		return // nothing there (or its folder went first)
	}
	if brake := lp.rootBrake(); brake != "" {
		if lp.braked.CompareAndSwap(false, true) {
			r.log.Error("deleting nothing: "+brake+"; is the source disk mounted? copyd deletes again once the source has files",
				"path", rel)
		}
		r.log.Debug("deletion refused", "path", rel)
		return
	}
	lp.releaseBrake()
	if r.retry(ctx, "delete", rel, func() error { return r.removeExtra(ctx, rel, dst.IsDir()) }) {
		r.progress.Deleted.Add(1)
		r.log.Debug("deleted", "path", rel)
		lp.markDirty(settle.Parent(rel))
	}
}

// releaseBrake ends a delete-brake episode, if one holds: the deletions
// refused meanwhile are due, so the whole tree is rescanned.
func (lp *livePair) releaseBrake() {
	if lp.braked.CompareAndSwap(true, false) {
		lp.log.Info("the source has files again; deletions resume with a full rescan")
		lp.settle.RescanAll()
	}
}

// try runs op once for a pass of the daemon (see pairRun.retry).
func (lp *livePair) try(ctx context.Context, r *pairRun, opName, rel string, op func() error) bool {
	if r.isPaused() {
		return false
	}
	err := op()
	if err == nil {
		lp.recovered(rel, opName)
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	switch classify(err) {
	case kindDrop:
		r.log.Debug("source vanished", "path", rel, "op", opName)
	case kindChanged:
		r.log.Debug("source changed while copying; copying once it settles", "path", rel)
		lp.settle.Add(rel, settle.Path)
	case kindHeld:
		r.log.Debug("source still open for writing; copying once its writer closes it", "path", rel)
		lp.settle.MaybeOpen(rel)
	case kindPause:
		r.pause(opName, rel, err)
	default:
		r.fail(opName, rel, err)
	}
	return false
}

// countFailure reports whether a failure of rel adds to the pair's failed
// count (the watching line's failed=, the status's errors). A path that
// failed again when loadFailures retried it before the first pass counts
// once in the start's count, not once more when that pass meets it.
func (lp *livePair) countFailure(rel string) bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	switch {
	case lp.preRetry:
		lp.preFailed[rel] = true
	case lp.preFailed[rel]:
		delete(lp.preFailed, rel)
		return false
	}
	return true
}

// retryLater logs a failure on rel and tries the path again after a
// back-off of 1 s doubling to 5 min. The first failure is a warning, a
// path still failing at the longest back-off an error, the rest debug.
func (lp *livePair) retryLater(op, rel string, err error) {
	now := time.Now()
	lp.mu.Lock()
	n := lp.attempts[rel]
	lp.attempts[rel] = n + 1
	f, ok := lp.failing[rel]
	if !ok {
		f = FailingPath{Path: rel, Since: now}
	}
	f.Op, f.Err, f.Last, f.Attempts = op, err.Error(), now, n+1
	lp.failing[rel] = f
	idx := lp.idx
	lp.mu.Unlock()
	if idx != nil {
		idx.Fail(rel, op, err.Error(), now)
	}
	wait := min(time.Second<<min(n, 20), maxRetryBackoff)
	kind := settle.Path
	if retriedAsTree(op) {
		kind = settle.Tree
	}
	switch {
	case n == 0:
		lp.log.Warn(op+" failed; will retry", "path", rel, "err", err, "in", wait)
	case wait == errorLogThreshold && time.Second<<min(n-1, 20) < errorLogThreshold:
		lp.log.Error(op+" still failing; retrying every 5 minutes", "path", rel, "err", err)
	default:
		lp.log.Debug(op+" failed again", "path", rel, "err", err, "in", wait)
	}
	lp.settle.Retry(rel, kind, wait)
}

// succeeded notes that the source folder rel was read (scanDir): a
// failure to read it is over. A failure of a later step of the folder's
// job (making it in the destination, setting its metadata) is not: it
// keeps its since and attempts until that step works (see recovered).
func (lp *livePair) succeeded(rel string) { lp.recovered(rel, stepRead) }

// recovered forgets the failures of rel once step worked on it, if that
// shows the failure is over (see ends): "recovered" is logged and the
// index forgets it.
func (lp *livePair) recovered(rel, step string) {
	lp.mu.Lock()
	n, ok := lp.attempts[rel]
	if ok && ends(step, lp.failing[rel].Op) {
		delete(lp.attempts, rel)
		delete(lp.failing, rel)
	} else {
		ok = false
	}
	idx := lp.idx
	lp.mu.Unlock()
	if ok {
		if idx != nil {
			idx.Succeeded(rel)
		}
		lp.log.Info("recovered", "path", rel, "attempts", n+1)
	}
}

// claim takes rel for one copy; false if another job holds it, and then
// rel is queued to be copied again once that job is done.
func (lp *livePair) claim(rel string) bool {
	lp.mu.Lock()
	held := lp.copying[rel]
	lp.copying[rel] = true
	lp.mu.Unlock()
	if held {
		lp.settle.AddWritten(rel) // copied again once the job that holds it is done
	}
	return !held
}

// release gives rel back once its copy is under its final name (or gone).
func (lp *livePair) release(rel string) {
	lp.mu.Lock()
	delete(lp.copying, rel)
	lp.mu.Unlock()
}

func (lp *livePair) markDirty(rel string) {
	lp.mu.Lock()
	lp.dirty[rel] = true
	lp.mu.Unlock()
}

// finishDirty sets the metadata of the destination folders whose entries
// changed (deepest first: a child's changes touch its parent's mtime), once
// every copy in them is committed, and makes them durable.
func (lp *livePair) finishDirty(ctx context.Context) {
	lp.mu.Lock()
	dirs := make([]*dirMeta, 0, len(lp.dirty))
	for rel := range lp.dirty {
		dirs = append(dirs, &dirMeta{rel: rel})
	}
	clear(lp.dirty)
	lp.mu.Unlock()
	if len(dirs) == 0 {
		return
	}
	if lp.commit != nil {
		lp.commit.wait(ctx)
	}
	slices.SortFunc(dirs, func(a, b *dirMeta) int { return b.depth() - a.depth() })
	r := lp.base
	for _, d := range dirs {
		src, err1 := lstatPath(r.srcPath(d.rel))
		dst, err2 := lstatPath(r.dstPath(d.rel))
		if err1 != nil || err2 != nil || !src.IsDir() || !dst.IsDir() {
			continue
		}
		d.src, d.dst = src, dst
		d.changed.Store(true)
		if err := r.finishDir(d); err != nil {
			r.fail("set folder metadata", d.rel, err)
		} else {
			lp.recovered(d.rel, "set folder metadata")
		}
	}
	if !lp.pair.Fsync {
		return
	}
	// Make the new entries durable: a few folders one by one (a filesystem
	// flush would also wait for unrelated writes), many with one flush.
	if len(dirs) > maxDirFsyncs && lp.flush != nil {
		if err := lp.flush(); err != nil {
			r.fail("fsync", "", err)
		} else {
			lp.recovered("", "fsync")
		}
		return
	}
	for _, d := range dirs {
		err := syncDir(r.dstPath(d.rel))
		switch {
		case err == nil:
			lp.recovered(d.rel, "fsync folder")
		case !errIsNotExist(err):
			r.fail("fsync folder", d.rel, err)
		}
	}
}

// maxDirFsyncs is how many changed folders finishDirty fsyncs one by one.
const maxDirFsyncs = 64

// probeWritable checks that the destination (made if missing) takes a
// write of some size.
func probeWritable(dir string) error {
	if err := mkdirAllPath(dir, 0o755); err != nil {
		return err
	}
	name := filepath.Join(dir, tempname.For("probe"))
	holdTemp(name)
	defer tempOver(name)
	f, err := createExclusive(name)
	if err != nil {
		return err
	}
	defer removePath(f.Name())
	_, err = f.Write(make([]byte, probeWriteBytes))
	if err2 := f.Sync(); err == nil {
		err = err2
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	return err
}
