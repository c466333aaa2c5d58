package sync

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics receives measurements as they happen. Its methods must be safe
// for concurrent use and return at once.
type Metrics interface {
	// Copied reports one file copied for pair: its size and how long the
	// copy took.
	Copied(pair string, bytes int64, d time.Duration)
	// Propagated reports the time from the first event of a change to its
	// copy being complete in the destination.
	Propagated(pair string, d time.Duration)
}

// Status is what a running [Daemon] reports about itself.
type Status struct {
	Started time.Time    // when Run started
	Ready   bool         // every pair of the first config is watching or waiting
	Pairs   []PairStatus // in the config's order
}

// PairStatus is the state and counters of one pair of a running daemon.
// Counters are since the pair started (a reload that changes a pair starts
// it again).
type PairStatus struct {
	Name         string
	Source       string
	Destination  string
	State        State
	FilesCopied  int64
	BytesCopied  int64
	UpToDate     int64 // files found already in step by full passes
	Deleted      int64
	Moved        int64
	Special      int64 // FIFOs, sockets and devices skipped
	Queue        int   // paths waiting to settle or being copied
	Watches      int   // folders watched
	Errors       int64 // failed attempts (each is retried)
	ErrorsByKind map[string]int64
	LastError    *PairError // nil if none
	LastFullSync time.Time  // end of the last full pass; zero if none yet
	// Failing lists the paths failing now (the first maxListedFailing,
	// oldest first), with their last error and since when; kept in the
	// index, so a restart does not forget them.
	Failing []FailingPath
}

// FailingPath is a path that failed and has not succeeded since.
type FailingPath struct {
	Path     string
	Op       string
	Err      string
	Since    time.Time // its first failure
	Last     time.Time
	Attempts int
}

// maxListedFailing bounds PairStatus.Failing.
const maxListedFailing = 100

// PairError is the last failure of a pair.
type PairError struct {
	Time time.Time
	Op   string
	Path string
	Err  string
}

// Error kinds as the status and the metrics name them.
func (k errorKind) String() string {
	switch k {
	case kindRetry:
		return "transient"
	case kindDrop:
		return "vanished"
	case kindChanged:
		return "changed"
	case kindHeld:
		return "held"
	case kindPermanent:
		return "permission"
	case kindPause:
		return "destination"
	}
	return "other"
}

// pairStats is the part of a livePair's status that is not in its Progress.
type pairStats struct {
	mu       sync.Mutex
	lastErr  *PairError
	byKind   map[string]int64
	lastFull atomic.Int64 // unix nanoseconds
	queued   atomic.Int64 // paths pending or running, as the loop last saw it
}

func (s *pairStats) noteError(op, rel string, err error) {
	kind := classify(err).String()
	var fe *FileError
	if errors.As(err, &fe) {
		err = fe.Err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKind == nil {
		s.byKind = make(map[string]int64)
	}
	s.byKind[kind]++
	s.lastErr = &PairError{Time: time.Now(), Op: op, Path: rel, Err: err.Error()}
}

// status returns the pair's status now.
func (lp *livePair) status() PairStatus {
	p := lp.progress
	st := PairStatus{
		Name:        lp.pair.Name,
		Source:      lp.pair.Source,
		Destination: lp.pair.Destination,
		State:       lp.State(),
		FilesCopied: p.FilesDone.Load(),
		BytesCopied: p.BytesDone.Load(),
		UpToDate:    p.UpToDate.Load(),
		Deleted:     p.Deleted.Load(),
		Moved:       p.Moved.Load(),
		Special:     p.Special.Load(),
		Queue:       int(lp.stats.queued.Load()),
		Watches:     int(lp.watches.Load()),
		Errors:      p.Failed.Load(),
	}
	if ns := lp.stats.lastFull.Load(); ns != 0 {
		st.LastFullSync = time.Unix(0, ns)
	}
	lp.stats.mu.Lock()
	defer lp.stats.mu.Unlock()
	if lp.stats.lastErr != nil {
		e := *lp.stats.lastErr
		st.LastError = &e
	}
	st.ErrorsByKind = make(map[string]int64, len(lp.stats.byKind))
	for k, v := range lp.stats.byKind {
		st.ErrorsByKind[k] = v
	}
	st.Failing = lp.failingNow()
	return st
}

// failingNow lists the failing paths, oldest first.
func (lp *livePair) failingNow() []FailingPath {
	lp.mu.Lock()
	out := make([]FailingPath, 0, len(lp.failing))
	for _, f := range lp.failing {
		out = append(out, f)
	}
	lp.mu.Unlock()
	slices.SortFunc(out, func(a, b FailingPath) int { return a.Since.Compare(b.Since) })
	if len(out) > maxListedFailing {
		out = out[:maxListedFailing]
	}
	return out
}

// Status reports the daemon's pairs now. Safe for concurrent use, also
// before Run and after it returned (then without pairs).
func (d *Daemon) Status() Status {
	d.mu.Lock()
	pairs := slices.Clone(d.pairs)
	st := Status{Started: d.started, Ready: d.isReady}
	d.mu.Unlock()
	for _, lp := range pairs {
		st.Pairs = append(st.Pairs, lp.status())
	}
	return st
}
