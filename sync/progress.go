package sync

import (
	"sync/atomic"
	"time"
)

// Counter is a count that can be read while it grows; a counter made for
// one pair also adds to the run's total.
type Counter struct {
	n      atomic.Int64
	parent *Counter
}

// Add adds d to the counter (and to its parent's).
func (c *Counter) Add(d int64) {
	c.n.Add(d)
	if c.parent != nil {
		c.parent.Add(d)
	}
}

// Load returns the current count.
func (c *Counter) Load() int64 { return c.n.Load() }

// Progress is live counters of a run, safe to read from any goroutine while
// the engine updates them (a progress bar polls it).
type Progress struct {
	FilesQueued Counter // files found that need a copy
	BytesQueued Counter // their bytes
	FilesDone   Counter // files copied
	BytesDone   Counter // bytes copied
	UpToDate    Counter // files (and symlinks) that were already right
	Special     Counter // FIFOs, sockets and devices skipped
	Deleted     Counter // destination entries removed (delete: true)
	Archived    Counter // destination entries moved into the archive
	Moved       Counter // destination entries renamed after a rename in the source (daemon)
	Failed      Counter // paths that could not be brought in step
	Scanning    Counter // pairs whose scan is still finding work
}

// child returns counters for one pair that also add to p.
func (p *Progress) child() *Progress {
	c := new(Progress)
	for _, f := range []struct{ mine, theirs *Counter }{
		{&c.FilesQueued, &p.FilesQueued}, {&c.BytesQueued, &p.BytesQueued},
		{&c.FilesDone, &p.FilesDone}, {&c.BytesDone, &p.BytesDone},
		{&c.UpToDate, &p.UpToDate}, {&c.Special, &p.Special},
		{&c.Deleted, &p.Deleted}, {&c.Archived, &p.Archived}, {&c.Moved, &p.Moved}, {&c.Failed, &p.Failed},
		{&c.Scanning, &p.Scanning},
	} {
		f.mine.parent = f.theirs
	}
	return c
}

// Summary is the outcome of a [Sync].
type Summary struct {
	Copied   int64 // files and symlinks written (or, with DryRun, that would be)
	Bytes    int64 // bytes copied
	UpToDate int64
	Special  int64
	Deleted  int64 // with DryRun: that would be deleted
	Archived int64
	Failed   int64
	Duration time.Duration
	// Failures lists the first failed paths (at most maxListedFailures);
	// every failure was also logged where it happened.
	Failures []*FileError
}

const maxListedFailures = 1000

func (p *Progress) summary(d time.Duration, failures []*FileError) Summary {
	return Summary{
		Copied:   p.FilesDone.Load(),
		Bytes:    p.BytesDone.Load(),
		UpToDate: p.UpToDate.Load(),
		Special:  p.Special.Load(),
		Deleted:  p.Deleted.Load(),
		Archived: p.Archived.Load(),
		Failed:   p.Failed.Load(),
		Duration: d,
		Failures: failures,
	}
}

// Child returns counters for one pair of another engine (the remote one)
// that also add to p.
func (p *Progress) Child() *Progress { return p.child() }

// Summarize returns the Summary of a run that took d, with failures (the
// first of them) listed.
func (p *Progress) Summarize(d time.Duration, failures []*FileError) Summary {
	if len(failures) > maxListedFailures {
		failures = failures[:maxListedFailures]
	}
	return p.summary(d, failures)
}

// MaxListedFailures is how many failed paths a Summary lists at most.
const MaxListedFailures = maxListedFailures
