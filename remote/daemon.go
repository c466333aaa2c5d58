//go:build linux

package remote

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/index"
	"github.com/copyd/copyd/internal/lease"
	copysync "github.com/copyd/copyd/sync"
	"github.com/copyd/copyd/watcher"
)

// Daemon keeps remote pairs in step as their sources change: per pair it
// waits for the source, connects, watches the source, makes a full pass,
// then scans the folders whose events settled (settle after the last
// event, max_delay after the first) and, on the rescan schedule, makes a
// full pass that lists the destination and repairs drift. A destination
// that cannot be reached or refuses writes pauses its pair; the daemon
// tries again with back-off (1 s doubling to 5 min) and resumes by itself
// with a full pass from the index.
type Daemon struct {
	o      Options
	ready  func()
	reload chan *config.Config

	isReady atomic.Bool
	mu      sync.Mutex
	state   map[string]*pairState // by pair name, for Status
	order   []string              // pair names in config order
}

// pairState is what Status reports of one remote pair.
type pairState struct {
	pair     config.Pair
	progress *copysync.Progress
	state    atomic.Int32 // a copysync.State
	watches  atomic.Int64
	lastFull atomic.Int64 // unix ns
	mu       sync.Mutex
	lastErr  *copysync.PairError
	idx      *index.DB // while connected, for the failing paths
}

// Status reports the remote pairs now, in config order, in the local
// daemon's terms (the status page and copyd status show both alike).
func (d *Daemon) Status() []copysync.PairStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]copysync.PairStatus, 0, len(d.order))
	for _, name := range d.order {
		ps, ok := d.state[name]
		if !ok {
			continue
		}
		p := ps.progress
		st := copysync.PairStatus{
			Name: name, Source: ps.pair.Source, Destination: ps.pair.Destination,
			State:       copysync.State(ps.state.Load()),
			FilesCopied: p.FilesDone.Load(), BytesCopied: p.BytesDone.Load(), UpToDate: p.UpToDate.Load(),
			Deleted: p.Deleted.Load(), Moved: p.Moved.Load(), Special: p.Special.Load(),
			Watches: int(ps.watches.Load()), Errors: p.Failed.Load(),
		}
		if ns := ps.lastFull.Load(); ns != 0 {
			st.LastFullSync = time.Unix(0, ns)
		}
		ps.mu.Lock()
		if ps.lastErr != nil {
			e := *ps.lastErr
			st.LastError = &e
		}
		if ps.idx != nil {
			for _, f := range ps.idx.Failures(context.Background()) {
				st.Failing = append(st.Failing, copysync.FailingPath{Path: f.Path, Op: f.Op, Err: f.Err, Since: f.Since, Last: f.Last, Attempts: f.Attempts})
			}
		}
		ps.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// track makes the pair visible to Status.
func (d *Daemon) track(p config.Pair, ps *pairState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == nil {
		d.state = map[string]*pairState{}
	}
	d.state[p.Name] = ps
}

func (d *Daemon) untrack(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.state, name)
}

func (d *Daemon) setOrder(cfg *config.Config) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.order = d.order[:0]
	for _, p := range cfg.Pairs {
		if p.Remote() {
			d.order = append(d.order, p.Name)
		}
	}
}

// NewDaemon returns a daemon; ready, when set, is called once every pair
// of the first config watches its source or waits for it (or for its
// destination).
func NewDaemon(o Options, ready func()) *Daemon {
	o.fill()
	d := &Daemon{o: o, reload: make(chan *config.Config, 1)}
	d.ready = func() {
		d.isReady.Store(true)
		if ready != nil {
			ready()
		}
	}
	return d
}

// Ready reports whether every remote pair of the first config watches its
// source or waits for it (or for its destination).
func (d *Daemon) Ready() bool { return d.isReady.Load() }

// Reload hands the daemon a new config: changed pairs restart, removed
// ones stop, new ones start. It does not wait.
func (d *Daemon) Reload(cfg *config.Config) {
	for {
		select {
		case d.reload <- cfg:
			return
		default:
		}
		select {
		case <-d.reload:
		default:
		}
	}
}

// timings are the config's daemon settings.
type timings struct {
	settle, maxDelay, rescan time.Duration
}

func timingsOf(cfg *config.Config) timings {
	return timings{settle: cfg.Settle, maxDelay: cfg.MaxDelay, rescan: cfg.Rescan}
}

type running struct {
	pair   config.Pair
	t      timings
	cancel context.CancelFunc
	done   chan struct{}
}

// Run serves the remote pairs of cfg until ctx ends.
func (d *Daemon) Run(ctx context.Context, cfg *config.Config) error {
	pairs := map[string]*running{}
	var pending sync.WaitGroup
	first := true
	d.setOrder(cfg)
	start := func(p config.Pair, t timings) {
		pctx, cancel := context.WithCancel(ctx)
		rp := &running{pair: p, t: t, cancel: cancel, done: make(chan struct{})}
		pairs[p.Name] = rp
		ps := &pairState{pair: p, progress: new(copysync.Progress)}
		d.track(p, ps)
		var once sync.Once
		ready := func() {}
		if first {
			pending.Add(1)
			ready = func() { once.Do(pending.Done) }
		}
		go func() {
			defer close(rp.done)
			defer ready()
			d.serve(pctx, p, t, ps, ready)
		}()
	}
	for _, p := range cfg.Pairs {
		if p.Remote() {
			start(p, timingsOf(cfg))
		}
	}
	first = false
	go func() { pending.Wait(); d.ready() }()
	stop := func(rp *running) {
		rp.cancel()
		<-rp.done
		delete(pairs, rp.pair.Name)
		d.untrack(rp.pair.Name)
	}
	for {
		select {
		case <-ctx.Done():
			for _, rp := range pairs {
				stop(rp)
			}
			return nil
		case next := <-d.reload:
			want := map[string]config.Pair{}
			for _, p := range next.Pairs {
				if p.Remote() {
					want[p.Name] = p
				}
			}
			t := timingsOf(next)
			d.setOrder(next)
			for name, rp := range pairs {
				if p, ok := want[name]; !ok || !reflect.DeepEqual(p, rp.pair) || t != rp.t {
					d.o.Log.Info("pair stopped for the new config", "pair", name)
					stop(rp)
				}
			}
			for name, p := range want {
				if _, ok := pairs[name]; !ok {
					start(p, t)
				}
			}
		}
	}
}

// rootCheckEvery is how often a watching pair checks that its source
// folder is still the one it watches.
const rootCheckEvery = 2 * time.Second

// Back-off of a paused pair.
const (
	firstBackoff = time.Second
	maxBackoff   = 5 * time.Minute
)

// serve runs one pair until ctx ends, reconnecting after pauses.
func (d *Daemon) serve(ctx context.Context, p config.Pair, t timings, ps *pairState, ready func()) {
	log := d.o.Log.With("pair", p.Name)
	o := d.o
	o.Progress = ps.progress
	defer ps.state.Store(int32(copysync.StateStopped))
	backoff := firstBackoff
	var planMu sync.Mutex
	waiting := false
	for ctx.Err() == nil {
		st, err := lstatSource(p.Source)
		if err != nil || st.Mode&0o170000 != 0o040000 {
			if !waiting {
				log.Warn("source missing; waiting for it", "source", p.Source, "err", err)
				waiting = true
			}
			ps.state.Store(int32(copysync.StateWaiting))
			ready()
			sleep(ctx, 2*time.Second)
			continue
		}
		waiting = false
		r, err := open(ctx, p, o, &planMu)
		if errors.Is(err, index.ErrLocked) {
			log.Error("pair not started", "err", err)
			return
		}
		if err != nil {
			ps.state.Store(int32(copysync.StatePaused))
			ps.noteError("connect", "", err)
			log.Error("destination cannot be reached; pair paused, retrying by itself", "in", backoff, "err", err)
			ready()
			sleep(ctx, backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		r.daemon = true
		r.status = ps
		ps.mu.Lock()
		ps.idx = r.idx
		ps.mu.Unlock()
		worked := r.watch(ctx, t, ready)
		ps.mu.Lock()
		ps.idx = nil
		ps.mu.Unlock()
		r.close()
		if ctx.Err() != nil {
			return
		}
		if r.restart {
			continue // the source folder changed under the watches: watch it anew
		}
		ps.state.Store(int32(copysync.StatePaused))
		if worked {
			backoff = firstBackoff
		}
		log.Warn("pair paused; retrying", "in", backoff)
		sleep(ctx, backoff)
		backoff = min(2*backoff, maxBackoff)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// events gathers the folders the watcher says changed.
type events struct {
	mu          sync.Mutex
	scopes      map[string]bool // folder → with everything below it
	deep        map[string]bool // folders to scan whole where a scan meets them
	first, last time.Time
	poke        chan struct{}
	degraded    bool
	rootGone    bool // the watcher saw the source folder itself go
	// writing holds the files a writer has written to and not closed
	// yet, with the time of the first write: they are copied once
	// closed, or as they are max_delay after that write.
	writing map[string]time.Time
}

// heldForWriter reports whether rel is still being written (no Closed
// yet, and less than maxDelay since its first write).
func (e *events) heldForWriter(rel string, maxDelay time.Duration) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	since, ok := e.writing[rel]
	if ok && time.Since(since) >= maxDelay {
		delete(e.writing, rel)
		return false
	}
	return ok
}

func (e *events) add(rel string, deep bool) {
	e.scopes[rel] = e.scopes[rel] || deep
	now := time.Now()
	if e.first.IsZero() {
		e.first = now
	}
	e.last = now
	select {
	case e.poke <- struct{}{}:
	default:
	}
}

// note is the watcher's Notify: it returns at once.
func (e *events) note(ev watcher.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev.Kind {
	case watcher.DirAdded:
		// Its parent's scan meets it, and walks it whole: there, a folder
		// renamed within the parent is found as a rename (moves.go).
		if ev.Rel == "" {
			e.add("", true)
		} else {
			e.deep[ev.Rel] = true
			e.add(parentOf(ev.Rel), false)
		}
	case watcher.Rescan:
		e.add(ev.Rel, true)
	case watcher.Degraded:
		e.degraded = true
	case watcher.Written:
		if watcher.ReportsClose() {
			if _, ok := e.writing[ev.Rel]; !ok {
				e.writing[ev.Rel] = time.Now()
			}
		}
		e.add(parentOf(ev.Rel), false)
	case watcher.Closed, watcher.Removed:
		if ev.Rel == "" && ev.Kind == watcher.Removed {
			// The source folder itself was removed or moved away: its
			// watches are gone (a folder made again in its place may
			// even get its inode back).
			e.rootGone = true
			e.add("", false)
			return
		}
		delete(e.writing, ev.Rel)
		e.add(parentOf(ev.Rel), false)
	default:
		if ev.Rel == "" {
			e.add("", false)
		} else {
			e.add(parentOf(ev.Rel), false)
		}
	}
}

// take returns the gathered folders and starts a new batch.
func (e *events) take() ([]scope, map[string]bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]scope, 0, len(e.scopes))
	for rel, deep := range e.scopes {
		out = append(out, scope{rel: rel, deep: deep})
	}
	clear(e.scopes)
	deep := e.deep
	e.deep = map[string]bool{}
	e.first, e.last = time.Time{}, time.Time{}
	return out, deep
}

// due is when the gathered batch may go: settle after the last event,
// at most max_delay after the first.
func (e *events) due(t timings) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.scopes) == 0 {
		return time.Time{}, false
	}
	return minTime(e.last.Add(t.settle), e.first.Add(t.maxDelay)), true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// watch watches the pair's source and serves its events until ctx ends
// or the pair pauses; it reports whether any pass completed.
func (r *pairRun) watch(ctx context.Context, t timings, ready func()) bool {
	root, err := lstatSource(r.pair.Source)
	if err != nil {
		return false
	}
	ev := &events{scopes: map[string]bool{}, deep: map[string]bool{}, poke: make(chan struct{}, 1), writing: map[string]time.Time{}}
	// rootChanged: the source folder was removed, or made again (another
	// inode): its watches are gone, so the pair starts over.
	rootChanged := func() bool {
		ev.mu.Lock()
		gone := ev.rootGone
		ev.mu.Unlock()
		now, err := lstatSource(r.pair.Source)
		return gone || err != nil || now.Ino != root.Ino || now.Dev != root.Dev
	}
	r.writing = func(rel string, changed time.Time) bool {
		if ev.heldForWriter(rel, t.maxDelay) {
			return true
		}
		// A file this watcher saw no write of (met by the first pass, or
		// in a folder moved in) may still be open for writing: the kernel
		// says so with a read lease. Only files changed within max_delay.
		if time.Since(changed) >= t.maxDelay || !lease.WriterHolds(r.srcPath(rel)) {
			return false
		}
		ev.mu.Lock()
		if _, ok := ev.writing[rel]; !ok {
			ev.writing[rel] = changed
		}
		ev.mu.Unlock()
		return true
	}
	defer func() { r.writing = nil }()
	w, err := watcher.New(ctx, watcher.Options{Root: r.pair.Source, Exclude: r.excl.Excluded, Log: r.log, Notify: ev.note})
	if err != nil {
		r.log.Error("source not watched; retrying", "source", r.pair.Source, "err", err)
		ready()
		return false
	}
	defer w.Close()
	ready()
	r.status.watches.Store(int64(w.Watches()))
	r.log.Info("watching", "source", r.pair.Source, "destination", r.dst.String(), "folders", w.Watches())
	rescan := time.NewTicker(t.rescan)
	defer rescan.Stop()
	rootTick := time.NewTicker(rootCheckEvery)
	defer rootTick.Stop()
	full, listDest := true, r.mustList() || r.intentsLeft(ctx) || !r.destHoldsRecords(ctx)
	worked := false
	for {
		switch {
		case full:
			r.status.state.Store(int32(copysync.StateScanning))
			r.log.Info("scan started", "list_destination", listDest)
			start := time.Now()
			r.pass(ctx, []scope{{deep: true}}, listDest)
			if !r.isPaused() && ctx.Err() == nil {
				r.status.lastFull.Store(time.Now().UnixNano())
				r.log.Info("scan done", "files", r.progress.FilesDone.Load(), "up_to_date", r.progress.UpToDate.Load(),
					"dur", time.Since(start).Round(time.Millisecond))
			}
			full, listDest = false, false
		default:
			if scopes, deep := ev.take(); len(scopes) > 0 {
				r.status.state.Store(int32(copysync.StateCopying))
				r.pass(ctx, scopes, false, deep)
			}
		}
		r.status.state.Store(int32(copysync.StateWatching))
		if r.isPaused() && r.makeRoom(ctx) {
			full, listDest = true, true // the copies that did not fit; see Sync for the listing
			continue
		}
		if ctx.Err() != nil || r.isPaused() {
			return worked
		}
		if rootChanged() {
			r.log.Warn("the source folder was removed or made again; watching it anew", "source", r.pair.Source)
			r.restart = true
			return true
		}
		worked = true
		for rel := range r.takeAgain() {
			ev.mu.Lock()
			ev.add(rel, false)
			ev.mu.Unlock()
		}
		ev.mu.Lock()
		if ev.degraded {
			ev.degraded = false
			r.log.Warn("some folders are not watched (the kernel refused more watches); their changes arrive with the rescan", "rescan", t.rescan)
		}
		ev.mu.Unlock()
		// Wait for a batch that is due, or the rescan.
		for !full {
			due, ok := ev.due(t)
			var timer <-chan time.Time
			if ok {
				d := time.Until(due)
				if d <= 0 {
					break
				}
				timer = time.After(d)
			}
			select {
			case <-ctx.Done():
				return worked
			case <-rescan.C:
				full, listDest = true, true
			case <-rootTick.C:
				if rootChanged() {
					r.log.Warn("the source folder was removed or made again; watching it anew", "source", r.pair.Source)
					r.restart = true
					return true
				}
			case <-ev.poke:
			case <-timer:
			}
		}
	}
}

// noteError keeps err as the pair's last error.
func (ps *pairState) noteError(op, rel string, err error) {
	if ps == nil {
		return
	}
	ps.mu.Lock()
	ps.lastErr = &copysync.PairError{Time: time.Now(), Op: op, Path: rel, Err: err.Error()}
	ps.mu.Unlock()
}
