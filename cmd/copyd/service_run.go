package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/kardianos/service"
)

// serviceStopGrace bounds how long the service manager's stop request
// waits for the daemon: its own grace for copies in flight is 10 s.
const serviceStopGrace = 15 * time.Second

// runService runs the daemon function run and returns its exit code. When
// the OS service manager started copyd (not interactive: the Windows SCM,
// which must be answered through service.Run, or systemd and launchd), run
// runs under kardianos/service: its Stop cancels run's context and waits up
// to serviceStopGrace for it to return. Otherwise runService simply calls
// run(ctx). Errors of the service manager go to stderr (exit 1).
func runService(ctx context.Context, stderr io.Writer, run func(context.Context) int) int {
	if service.Interactive() {
		return run(ctx)
	}
	p := newProgram(ctx, run, serviceStopGrace)
	defer p.cancel()
	s, err := service.New(p, &service.Config{
		Name: serviceName,
		// Unix: kardianos waits for SIGTERM before it calls Stop; ctx
		// already ends on it, and a daemon that returns by itself (it
		// failed) must end the process too.
		Option: service.KeyValue{"RunWait": func() { p.wait(ctx) }},
	})
	if err != nil {
		return run(ctx) // no service manager after all: run in the foreground
	}
	if err := s.Run(); err != nil {
		fmt.Fprintf(stderr, "copyd: service manager: %v\n", err)
		return exitFailed
	}
	select {
	case <-p.done:
		return p.code
	default:
		return exitFailed
	}
}

// program runs the daemon function for kardianos/service. The context is
// held by the start closure; the program keeps its cancel func and done
// channel.
type program struct {
	start    func()             // starts the daemon goroutine
	cancel   context.CancelFunc // asks the daemon to stop
	done     chan struct{}      // closed when the daemon function returned
	code     int                // its exit code, written before done is closed
	stopping atomic.Bool        // Stop was called
	grace    time.Duration      // how long Stop waits for done
}

// newProgram returns a program that runs run with a context derived from
// ctx once it is started.
func newProgram(ctx context.Context, run func(context.Context) int, grace time.Duration) *program {
	ctx, cancel := context.WithCancel(ctx)
	p := &program{cancel: cancel, done: make(chan struct{}), grace: grace}
	p.start = func() {
		go func() {
			p.code = run(ctx)
			close(p.done)
			if !p.stopping.Load() {
				endUnasked(p.code)
			}
		}()
	}
	return p
}

// Start starts the daemon and returns at once, as the service manager requires.
func (p *program) Start(service.Service) error {
	p.start()
	return nil
}

// Stop cancels the daemon and waits up to the grace period for it to return.
func (p *program) Stop(service.Service) error {
	p.stopping.Store(true)
	p.cancel()
	select {
	case <-p.done:
		return nil
	case <-time.After(p.grace):
		return fmt.Errorf("copyd did not stop within %v", p.grace)
	}
}

// wait returns when ctx is done or the daemon function returned.
func (p *program) wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-p.done:
	}
}
