//go:build linux

package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/dest"
	"github.com/copyd/copyd/dest/dryrun"
	"github.com/copyd/copyd/dest/local"
	"github.com/copyd/copyd/dest/s3"
	"github.com/copyd/copyd/dest/sftp"
	"github.com/copyd/copyd/index"
	"github.com/copyd/copyd/internal/exclude"
	copysync "github.com/copyd/copyd/sync"
)

// Options configure [Sync] and [Daemon].
type Options struct {
	// Log receives per-file failures (Error), retries (Warn), pair
	// summaries (Info) and per-file events (Debug); nil logs nothing.
	Log *slog.Logger
	// Progress is updated live; a nil one is allocated.
	Progress *copysync.Progress
	// StateDir holds the pairs' indexes ("": none, every pass lists the
	// destination).
	StateDir string
	// DryRun prints what would be written on Plan and writes nothing.
	DryRun bool
	Plan   io.Writer
}

func (o *Options) fill() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = new(copysync.Progress)
	}
	if o.Plan == nil {
		o.Plan = io.Discard
	}
}

// Connect opens the pair's destination: it dials, logs in and checks that
// the bucket or folder is there, so its error says in one sentence what
// is wrong. A local folder is opened with dest/local (tests drive this
// engine on one; copyd itself routes local pairs to package sync).
func Connect(ctx context.Context, p config.Pair) (dest.Destination, error) {
	loc, err := dest.Parse(p.Destination)
	if err != nil {
		return nil, err
	}
	switch loc.Scheme {
	case dest.SchemeS3:
		return s3.New(ctx, s3.Config{
			Bucket: loc.Bucket, Prefix: loc.Prefix,
			Endpoint: p.S3.Endpoint, Region: p.S3.Region, PathStyle: p.S3.PathStyle,
			CredentialsFile: p.S3.CredentialsFile, Connections: p.S3.Connections,
		})
	case dest.SchemeSFTP:
		return sftp.Dial(ctx, sftp.Config{
			User: loc.User, Host: loc.Host, Port: loc.Port, Path: loc.Path,
			KeyFile: p.SFTP.KeyFile, KnownHosts: p.SFTP.KnownHosts, Connections: p.SFTP.Connections,
			NoFsync: !p.Fsync,
		})
	}
	if err := os.MkdirAll(loc.Path, 0o755); err != nil {
		return nil, err
	}
	return local.New(loc.Path)
}

// Sync brings every pair's remote destination in step with its source
// once, the pairs side by side. Per-file failures are logged, counted and
// listed in the Summary and do not stop the run; the error is non-nil when
// a pair could not start (its source is not a folder, its destination
// cannot be reached, another copyd holds it) or ctx ended.
func Sync(ctx context.Context, pairs []config.Pair, o Options) (copysync.Summary, error) {
	start := time.Now()
	o.fill()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		errs     []error
		failures []*copysync.FileError
		planMu   sync.Mutex
	)
	for _, p := range pairs {
		wg.Go(func() {
			r, err := open(ctx, p, o, &planMu)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			defer r.close()
			r.log.Info("scan started", "source", p.Source, "destination", r.dst.String())
			r.pass(ctx, []scope{{deep: true}}, r.mustList() || r.intentsLeft(ctx) || !r.destHoldsRecords(ctx))
			for range 3 {
				if !r.makeRoom(ctx) {
					break
				}
				// Listing: a store that filled up may have acknowledged an
				// upload it did not keep (MinIO, a PUT cut by the full disk).
				r.pass(ctx, []scope{{deep: true}}, true)
			}
			r.stillFull()
			r.log.Info("pair done",
				"files", r.progress.FilesDone.Load(), "bytes", r.progress.BytesDone.Load(),
				"up_to_date", r.progress.UpToDate.Load(), "failed", r.progress.Failed.Load(),
				"dur", time.Since(start).Round(time.Millisecond))
			mu.Lock()
			failures = append(failures, r.failures...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return o.Progress.Summarize(time.Since(start), failures), errors.Join(errs...)
}

// pairRun is one pair with its destination open.
type pairRun struct {
	pair     config.Pair
	dst      dest.Destination
	feat     dest.Features
	idx      *index.DB // nil: no memory, every pass lists the destination
	excl     *exclude.Matcher
	log      *slog.Logger
	progress *copysync.Progress
	owner    bool // set owners (running as root, and the backend keeps them)
	conns    int  // uploads at once
	daemon   bool // a changed source is left to the daemon's next pass
	// writing, in the daemon, reports a file a writer has not closed
	// yet: it is left for the scan after its close.
	writing func(rel string, changed time.Time) bool
	status  *pairState // the daemon's view of the pair; nil in a one-shot run
	unlock  func()     // releases the machine-wide lock on the destination; nil in a dry run
	// intentsOpen counts work whose intent is noted (moves.go);
	// intentsKept says some ended leaving something behind.
	intentsOpen atomic.Int32
	intentsKept atomic.Bool
	restart     bool      // the daemon's watch ended because the source folder changed, not a pause
	fullAt      [2]string // op and path where a pair with delete: true found its destination full
	roomFreed   int64     // entries makeRoom deleted in this run
	roomWaits   int       // times makeRoom waited for the store to free them
	fullSaid    bool      // stillFull logged and counted the full destination

	mu       sync.Mutex
	failures []*copysync.FileError
	failed   map[string]bool // paths whose failure is counted in this run
	again    map[string]bool // folders the daemon scans again (a source changed while read)
	paused   atomic.Pointer[error]
}

// open checks the pair's source, connects to its destination and opens
// its index.
func open(ctx context.Context, p config.Pair, o Options, planMu *sync.Mutex) (*pairRun, error) {
	st, err := lstatSource(p.Source)
	if err != nil {
		return nil, fmt.Errorf("pair %s: source: %w", p.Name, err)
	}
	if st.Mode&0o170000 != 0o040000 {
		return nil, fmt.Errorf("pair %s: source %s is not a folder", p.Name, p.Source)
	}
	var unlock func()
	if !o.DryRun {
		// One copyd per destination: the index's lock guards one state
		// folder; this one every copyd on this machine.
		if unlock, err = index.LockName(lockKey(p)); err != nil {
			return nil, fmt.Errorf("pair %s: destination %s: %w; stop that copyd first, or give this pair another destination", p.Name, p.Destination, err)
		}
	}
	d, err := Connect(ctx, p)
	if err != nil {
		if unlock != nil {
			unlock()
		}
		return nil, fmt.Errorf("pair %s: %w", p.Name, err)
	}
	r := newPairRun(p, d, o)
	r.unlock = unlock
	if o.DryRun {
		r.dst = dryrun.New(d, p.Name, o.Plan, planMu)
	}
	if r.idx, err = openIndex(p, d.String(), o.StateDir, o.DryRun, r.log); err != nil {
		d.Close()
		return nil, fmt.Errorf("pair %s: %w", p.Name, err)
	}
	return r, nil
}

func newPairRun(p config.Pair, d dest.Destination, o Options) *pairRun {
	f := d.Features()
	conns := f.Connections
	if conns <= 0 {
		conns = 16
	}
	return &pairRun{
		pair:     p,
		dst:      d,
		feat:     f,
		excl:     exclude.New(p.Exclude),
		log:      o.Log.With("pair", p.Name),
		progress: o.Progress.Child(),
		owner:    f.Owners && os.Geteuid() == 0,
		conns:    conns,
	}
}

func (r *pairRun) close() {
	if r.idx != nil {
		r.idx.Close()
	}
	r.dst.Close()
	if r.unlock != nil {
		r.unlock()
	}
}

// lockKey names a remote destination for the machine-wide lock: the
// server (endpoint, or host and port; not the user) and the bucket and
// prefix or folder.
func lockKey(p config.Pair) string {
	loc, err := dest.Parse(p.Destination)
	if err != nil {
		return p.Destination
	}
	if loc.Scheme == dest.SchemeS3 {
		endpoint := p.S3.Endpoint
		if endpoint == "" {
			endpoint = os.Getenv("AWS_ENDPOINT_URL")
		}
		return "s3 " + strings.ToLower(strings.TrimSuffix(endpoint, "/")) + " " + loc.Bucket + "/" + loc.Prefix
	}
	port := loc.Port
	if port == 0 {
		port = 22
	}
	return fmt.Sprintf("sftp %s:%d %s", strings.ToLower(loc.Host), port, path.Clean("/"+loc.Path))
}

// openIndex opens the pair's index, bound to the source and the
// destination's name (a remote destination has no device and inode to
// bind to; a rescan's listing catches a bucket emptied behind copyd's
// back). No state folder means no index; a failure to open one is logged
// and the pair runs without memory.
func openIndex(p config.Pair, name, stateDir string, dryRun bool, log *slog.Logger) (*index.DB, error) {
	if stateDir == "" {
		return nil, nil
	}
	db, err := index.Open(index.Path(stateDir, name), index.Binding{Source: p.Source, Destination: name},
		index.Options{Log: log, ReadOnly: dryRun})
	if errors.Is(err, index.ErrLocked) {
		return nil, fmt.Errorf("destination %s: %w; stop that copyd first, or give this pair another destination", name, err)
	}
	if err != nil {
		log.Error("index not opened; listing the destination on every pass; make state_dir writable", "state_dir", stateDir, "err", err)
		return nil, nil
	}
	return db, nil
}

// mustList reports whether a full pass must list the destination: there
// is no record to trust, or the pair compares content.
func (r *pairRun) mustList() bool {
	return r.idx == nil || r.idx.Fresh || r.pair.Checksum
}

func (r *pairRun) srcPath(rel string) string {
	return filepath.Join(r.pair.Source, filepath.FromSlash(rel))
}

func (r *pairRun) isPaused() bool { return r.paused.Load() != nil }

// errChanged: the source changed while it was read; nothing was stored.
var errChanged = errors.New("source changed while it was copied")

// sourceError is a failure on the source side (reading, not writing).
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// do runs op on rel until it succeeds or fails for good: a vanished
// source is dropped, a changed one read again (the daemon leaves that to
// its next pass), a transient destination error retried twice (after 1 s
// and 2 s: one dropped request does not pause a pair) and then, like a
// destination that refuses writes, pauses the pair; anything else fails
// rel alone.
func (r *pairRun) do(ctx context.Context, opName, rel string, op func() error) bool {
	changed, transient := 0, 0
	for {
		if r.isPaused() || ctx.Err() != nil {
			return false
		}
		err := op()
		if err == nil {
			r.succeeded(rel)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		var se *sourceError
		var wait time.Duration
		switch {
		case errors.Is(err, errChanged):
			if r.daemon {
				r.scanAgain(parentOf(rel))
				return false
			}
			if changed++; changed > 5 {
				r.fail(opName, rel, fmt.Errorf("gave up after %d tries: %w", changed, err))
				return false
			}
			wait = 100 * time.Millisecond << (changed - 1)
		case errors.As(err, &se) && errors.Is(err, fs.ErrNotExist):
			r.log.Debug("source vanished", "path", rel, "op", opName)
			return false
		case errors.As(err, &se):
			r.fail(opName, rel, err)
			return false
		case dest.IsTransient(err):
			if transient++; transient > 2 {
				r.pause(opName, rel, err)
				return false
			}
			wait = time.Second << (transient - 1)
			r.log.Warn(opName+" failed; will retry", "path", rel, "err", err, "in", wait)
		case errors.Is(err, dest.ErrFull), errors.Is(err, dest.ErrReadOnly), errors.Is(err, dest.ErrPermission):
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

// fail records a final failure on rel: one log line, counted, listed,
// and kept in the index for copyd status.
func (r *pairRun) fail(op, rel string, err error) {
	r.log.Error(op+" failed", "path", rel, "err", err)
	r.record(op, rel, err)
}

func (r *pairRun) record(op, rel string, err error) {
	r.progress.Failed.Add(1)
	r.status.noteError(op, rel, err)
	r.mu.Lock()
	if r.failed == nil {
		r.failed = map[string]bool{}
	}
	r.failed[rel] = true
	r.mu.Unlock()
	if r.idx != nil {
		r.idx.Fail(rel, op, err.Error(), time.Now())
	}
	r.mu.Lock()
	if len(r.failures) < copysync.MaxListedFailures {
		r.failures = append(r.failures, &copysync.FileError{Pair: r.pair.Name, Op: op, Path: rel, Err: err})
	}
	r.mu.Unlock()
}

// succeeded notes that rel is in step: a failure of it earlier in this
// run (a full destination that made room since, a dropped connection) is
// no longer counted or listed.
func (r *pairRun) succeeded(rel string) {
	r.mu.Lock()
	was := r.failed[rel]
	if was {
		delete(r.failed, rel)
		r.failures = slices.DeleteFunc(r.failures, func(f *copysync.FileError) bool { return f.Path == rel })
	}
	r.mu.Unlock()
	if was {
		r.progress.Failed.Add(-1)
	}
	if r.idx != nil && (was || r.daemon) {
		r.idx.Succeeded(rel)
	}
}

// pause stops the pair's pass: the destination refuses writes or cannot
// be reached, so every later write would fail the same way. Logged once.
func (r *pairRun) pause(op, rel string, err error) {
	if !r.paused.CompareAndSwap(nil, &err) {
		return
	}
	what := "destination refuses writes"
	if dest.IsTransient(err) {
		what = "destination cannot be reached"
	}
	if r.pair.Delete && errors.Is(err, dest.ErrFull) {
		// makeRoom decides: deletions first, then the rest.
		r.log.Warn("destination is full", "path", rel, "op", op, "err", err)
		r.fullAt = [2]string{op, rel}
		return
	}
	if r.daemon {
		r.status.noteError(op, rel, err)
		r.log.Error(what+"; pair paused, it resumes by itself once the destination works again", "path", rel, "op", op, "err", err)
	} else {
		r.log.Error(what+"; pair stopped, fix the destination and run again", "path", rel, "op", op, "err", err)
		r.record(op, rel, err)
	}
}

// scanAgain notes a folder for the daemon's next pass.
func (r *pairRun) scanAgain(rel string) {
	r.mu.Lock()
	if r.again == nil {
		r.again = map[string]bool{}
	}
	r.again[rel] = true
	r.mu.Unlock()
}

// takeAgain returns and forgets the folders noted by scanAgain.
func (r *pairRun) takeAgain() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.again
	r.again = nil
	return a
}

func parentOf(rel string) string {
	if i := lastSlash(rel); i >= 0 {
		return rel[:i]
	}
	return ""
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

func relJoin(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
