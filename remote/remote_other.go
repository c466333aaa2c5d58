//go:build !linux

package remote

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/copyd/copyd/config"
	copysync "github.com/copyd/copyd/sync"
)

// Options configure [Sync] and [Daemon].
type Options struct {
	Log      *slog.Logger
	Progress *copysync.Progress
	StateDir string
	DryRun   bool
	Plan     io.Writer
}

// errNotHere: the remote engine reads sources with Linux's system calls.
var errNotHere = errors.New("remote destinations (s3://, sftp://) need Linux in this version of copyd; mount the share and give a local folder")

// Sync refuses: see errNotHere.
func Sync(context.Context, []config.Pair, Options) (copysync.Summary, error) {
	return copysync.Summary{}, errNotHere
}

// Daemon refuses remote pairs: see errNotHere.
type Daemon struct{ o Options }

// NewDaemon returns a daemon that refuses its pairs.
func NewDaemon(o Options, ready func()) *Daemon {
	if ready != nil {
		ready()
	}
	return &Daemon{o: o}
}

// Run logs errNotHere once per remote pair and waits for ctx.
func (d *Daemon) Run(ctx context.Context, cfg *config.Config) error {
	for _, p := range cfg.Pairs {
		if p.Remote() && d.o.Log != nil {
			d.o.Log.Error("pair not started", "pair", p.Name, "err", errNotHere)
		}
	}
	<-ctx.Done()
	return nil
}

// Reload does nothing.
func (d *Daemon) Reload(*config.Config) {}

// Status reports no pairs.
func (d *Daemon) Status() []copysync.PairStatus { return nil }

// Ready is always true: there is nothing to wait for.
func (d *Daemon) Ready() bool { return true }

// Connect refuses: see errNotHere.
func Connect(context.Context, config.Pair) (io.Closer, error) { return nil, errNotHere }
