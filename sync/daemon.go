package sync

import (
	"context"
	"github.com/copyd/copyd/sync/workpool"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/copyd/copyd/config"
)

// DefaultGrace is how long a stopping daemon lets copies in flight finish.
const DefaultGrace = 10 * time.Second

// DaemonOptions configure a [Daemon].
type DaemonOptions struct {
	// Log receives the daemon's logs; nil discards them.
	Log *slog.Logger
	// Grace bounds how long copies in flight may finish once the daemon
	// stops; then they are aborted and their temp files removed. Zero
	// means DefaultGrace.
	Grace time.Duration
	// Ready, when set, is called once every pair of the first config
	// watches its source (or waits for it): from then on no change is
	// missed. The first full pass may still be running.
	Ready func()
	// Metrics, when set, receives copy durations and propagation times.
	Metrics Metrics
}

// Daemon keeps every pair of a config in step with its source as files
// change: per pair it waits for the source, watches it, makes a full pass,
// then copies each path once its events settle, on one pool of workers
// shared by all pairs. [Daemon.Run] owns every goroutine it starts.
type Daemon struct {
	o      DaemonOptions
	reload chan *config.Config

	mu      sync.Mutex
	pairs   []*livePair // running pairs, in config order, for Status
	started time.Time
	isReady bool
}

// NewDaemon returns a daemon; [Daemon.Run] starts it.
func NewDaemon(o DaemonOptions) *Daemon {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	return &Daemon{o: o, reload: make(chan *config.Config, 1)}
}

// Reload hands a new, valid config to the running daemon: added pairs
// start, removed pairs stop, changed pairs restart (all of them when the
// timings change); a new worker count applies at once. A config handed
// over before the previous one was applied replaces it. Safe for
// concurrent use; it does not wait.
func (d *Daemon) Reload(cfg *config.Config) {
	for {
		select {
		case d.reload <- cfg:
			return
		default:
		}
		select {
		case <-d.reload: // drop the one not applied yet
		default:
		}
	}
}

// runningPair is a pair served by Run.
type runningPair struct {
	live   *livePair
	cancel context.CancelFunc
	done   chan struct{}
}

// Run serves cfg until ctx ends, then stops: no new work starts, copies in
// flight get the grace period to finish (then they are aborted, leaving no
// temp file), and Run returns nil. Per-path failures are logged and
// retried; they never end Run.
func (d *Daemon) Run(ctx context.Context, cfg *config.Config) error {
	log := d.o.Log
	// Copies in flight outlive ctx by the grace period.
	workCtx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	pool := workpool.New(workCtx, cfg.Workers)
	pairs := make(map[string]*runningPair)
	start0 := time.Now()

	var readyOnce sync.Once
	pending := len(localPairs(cfg.Pairs))
	readyCh := make(chan struct{}, len(cfg.Pairs))
	if len(cfg.Pairs) == 0 {
		log.Warn("no pairs configured; nothing to do until the config has one and is reloaded")
	}
	if pending == 0 {
		d.ready(&readyOnce)
	}
	start := func(p config.Pair, cfg *config.Config, first bool) {
		pctx, cancel := context.WithCancel(ctx)
		rp := &runningPair{live: newLivePair(p, cfg, pool, log), cancel: cancel, done: make(chan struct{})}
		rp.live.metrics = d.o.Metrics
		pairs[p.Name] = rp
		var once sync.Once
		ready := func() {
			if first {
				once.Do(func() { readyCh <- struct{}{} })
			}
		}
		go func() {
			defer close(rp.done)
			defer ready() // a pair stopped before it got ready must not hold up Ready
			rp.live.run(pctx, ready)
		}()
	}
	stop := func(name string) {
		rp := pairs[name]
		rp.cancel()
		<-rp.done
		delete(pairs, name)
	}
	for _, p := range localPairs(cfg.Pairs) {
		start(p, cfg, true)
	}
	d.publish(cfg, pairs, start0)
	log.Info("started", "pairs", len(cfg.Pairs), "workers", cfg.Workers)

	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-readyCh:
			if pending--; pending == 0 {
				d.ready(&readyOnce)
			}
		case next := <-d.reload:
			added, removed, restarted := 0, 0, 0
			timings := next.Settle != cfg.Settle || next.MaxDelay != cfg.MaxDelay || next.Rescan != cfg.Rescan || next.StateDir != cfg.StateDir
			want := make(map[string]config.Pair, len(next.Pairs))
			for _, p := range localPairs(next.Pairs) {
				want[p.Name] = p
			}
			// Stop before start: a new pair may take over a folder an old one wrote to.
			for name, rp := range pairs {
				p, keep := want[name]
				switch {
				case !keep:
					stop(name)
					removed++
				case timings || !reflect.DeepEqual(p, rp.live.pair):
					stop(name)
					restarted++
				}
			}
			for _, p := range localPairs(next.Pairs) {
				if _, ok := pairs[p.Name]; !ok {
					start(p, next, false)
					added++
				}
			}
			added -= restarted
			if next.Workers != cfg.Workers {
				pool.Resize(next.Workers)
			}
			cfg = next
			d.publish(cfg, pairs, start0)
			log.Info("config reloaded", "file", cfg.File, "pairs", len(cfg.Pairs),
				"added", added, "removed", removed, "restarted", restarted, "workers", cfg.Workers)
		}
	}

	d.mu.Lock()
	d.isReady = false
	d.mu.Unlock()
	log.Info("stopping", "grace", d.o.Grace)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, rp := range pairs {
			rp.cancel()
			<-rp.done
		}
	}()
	grace := time.NewTimer(d.o.Grace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		log.Warn("grace period over; aborting copies in flight (their temp files are removed)")
		abort()
		<-done
	}
	pool.Close()
	d.mu.Lock()
	d.pairs = nil
	d.mu.Unlock()
	return nil
}

func (d *Daemon) ready(once *sync.Once) {
	once.Do(func() {
		d.mu.Lock()
		d.isReady = true
		d.mu.Unlock()
		if d.o.Ready != nil {
			d.o.Ready()
		}
	})
}

// publish makes the running pairs visible to Status, in cfg's order.
func (d *Daemon) publish(cfg *config.Config, pairs map[string]*runningPair, started time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.started = started
	d.pairs = d.pairs[:0]
	for _, p := range cfg.Pairs {
		if rp, ok := pairs[p.Name]; ok {
			d.pairs = append(d.pairs, rp.live)
		}
	}
}

// localPairs are the pairs this engine serves: those with a local
// destination (package remote serves S3 and SFTP).
func localPairs(pairs []config.Pair) []config.Pair {
	var out []config.Pair
	for _, p := range pairs {
		if !p.Remote() {
			out = append(out, p)
		}
	}
	return out
}
