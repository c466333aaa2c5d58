package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/remote"
	"github.com/copyd/copyd/status"
	copysync "github.com/copyd/copyd/sync"
	sdnotify "github.com/coreos/go-systemd/v22/daemon"
)

// cmdRun runs the daemon in the foreground until SIGINT or SIGTERM (exit 0);
// SIGHUP reloads the config file. Exit 2 for usage or config errors, 1 when
// the daemon fails.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, pos, err := parseCommon("run", args)
	if err != nil {
		return usageError(stdout, stderr, err)
	}
	if f.dryRun {
		return usageError(stdout, stderr, errors.New("--dry-run applies to copyd sync, not to copyd run"))
	}
	cfg, err := f.loadConfig(pos)
	if err != nil && !onlyMissingSources(err) {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if f.set["status"] {
		if err := config.CheckListen(cfg.Status); err != nil {
			return usageError(stdout, stderr, err)
		}
	}
	if cfg.Settle > cfg.MaxDelay {
		return usageError(stdout, stderr, fmt.Errorf("settle (%v) is longer than max_delay (%v); raise --max-delay too", cfg.Settle, cfg.MaxDelay))
	}
	level := new(slog.LevelVar)
	setLevel(level, cfg.Log.Level)
	log := newLevelLogger(stderr, level, cfg.Log.Format)
	if err != nil {
		// Missing sources do not stop the daemon: those pairs wait for them.
		log.Warn("some sources are missing; their pairs wait for them", "err", err)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	metrics := status.NewMetrics()
	// Ready once both engines are: the local one and the remote one.
	var readyMu sync.Mutex
	engines := 2
	ready := func() {
		readyMu.Lock()
		defer readyMu.Unlock()
		if engines--; engines == 0 {
			notifySystemd(log, sdnotify.SdNotifyReady)
			log.Info("ready", "pairs", len(cfg.Pairs))
		}
	}
	d := copysync.NewDaemon(copysync.DaemonOptions{
		Log:     log,
		Metrics: metrics,
		Ready:   ready,
	})
	rd := remote.NewDaemon(remote.Options{Log: log, StateDir: cfg.StateDir}, ready)
	remoteCtx, stopRemote := context.WithCancel(ctx)
	remoteDone := make(chan struct{})
	go func() {
		defer close(remoteDone)
		_ = rd.Run(remoteCtx, cfg)
	}()
	defer func() { stopRemote(); <-remoteDone }()
	var served sync.WaitGroup
	defer served.Wait()
	if cfg.Status.Listen != "" {
		srv := status.NewServer(cfg.Status.Listen, bothEngines{d, rd}, metrics, version(), log)
		if ln, err := srv.Listen(); err != nil {
			// The copies matter more than the endpoint: run without it.
			log.Error("status endpoint not started; copyd runs without it, choose a free address under status: listen", "err", err)
		} else {
			log.Info("status endpoint", "url", "http://"+ln.Addr().String()+"/status")
			served.Go(func() {
				if err := srv.Serve(ctx, ln); err != nil {
					log.Error("status endpoint failed", "err", err)
				}
			})
		}
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, cfg) }()
	stopping := ctx.Done()
	for {
		select {
		case <-stopping:
			notifySystemd(log, sdnotify.SdNotifyStopping)
			stopping = nil
		case err := <-done:
			if err != nil {
				log.Error("daemon failed", "err", err)
				return exitFailed
			}
			log.Info("stopped")
			return exitOK
		case <-hup:
			next, err := reloadConfig(f, cfg)
			if err != nil {
				log.Error("config not reloaded", "err", err, "running", "the previous config")
				continue
			}
			setLevel(level, next.Log.Level)
			if next.Log.Format != cfg.Log.Format {
				log.Warn("log format changes take effect after a restart", "format", cfg.Log.Format)
			}
			if next.Status.Listen != cfg.Status.Listen {
				log.Warn("status.listen changes take effect after a restart", "listen", cfg.Status.Listen)
			}
			notifySystemd(log, sdnotify.SdNotifyReloading)
			cfg = next
			d.Reload(next)
			rd.Reload(next)
			notifySystemd(log, sdnotify.SdNotifyReady)
		}
	}
}

// reloadConfig reads the config file again and applies the same
// command-line overrides. A daemon started with SRC DST has no file.
func reloadConfig(f *commonFlags, old *config.Config) (*config.Config, error) {
	if old.File == "" {
		return nil, errors.New("started with SRC DST, there is no config file to reload")
	}
	next, err := config.Load(old.File)
	if next == nil {
		return nil, err
	}
	f.override(next)
	if next.Settle > next.MaxDelay {
		return nil, fmt.Errorf("settle (%v) is longer than max_delay (%v) with the command-line flags", next.Settle, next.MaxDelay)
	}
	return next, nil
}

// onlyMissingSources reports whether every problem of a config error is a
// missing source (the daemon then waits for those sources).
func onlyMissingSources(err error) bool {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			if !errors.Is(e, config.ErrSourceMissing) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, config.ErrSourceMissing)
}

// notifySystemd tells systemd (Type=notify) about the daemon's state; it
// does nothing when copyd does not run under systemd.
func notifySystemd(log *slog.Logger, state string) {
	if _, err := sdnotify.SdNotify(false, state); err != nil {
		log.Warn("cannot notify systemd", "state", state, "err", err)
	}
}

// bothEngines is what the status endpoint reports on: the local pairs' daemon
// and the remote pairs' one.
type bothEngines struct {
	local  *copysync.Daemon
	remote *remote.Daemon
}

func (e bothEngines) Status() copysync.Status {
	st := e.local.Status()
	st.Ready = st.Ready && e.remote.Ready()
	st.Pairs = append(st.Pairs, e.remote.Status()...)
	return st
}
