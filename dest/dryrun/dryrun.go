// Package dryrun wraps a destination so that nothing is written: reads go
// through, and every write prints the line of what it would do and
// succeeds (restic's backend/dryrun does the same). copyd's --dry-run for
// remote destinations is this wrapper, not a branch in the engine.
package dryrun

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/copyd/copyd/dest"
)

// Dest is a destination that reads from its inner one and writes nothing.
type Dest struct {
	inner dest.Destination
	name  string // the pair's name, in every line
	mu    *sync.Mutex
	w     io.Writer
}

var _ dest.Destination = (*Dest)(nil)

// New returns inner wrapped: writes print "ACTION PAIR: "PATH"" lines on
// w, under mu (shared by every pair writing to w).
func New(inner dest.Destination, pair string, w io.Writer, mu *sync.Mutex) *Dest {
	return &Dest{inner: inner, name: pair, mu: mu, w: w}
}

// line prints one plan line, in the local engine's format.
func (d *Dest) line(action, rel string, extra ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := fmt.Sprintf("%-7s %s: %s", action, d.name, strconv.Quote(rel))
	for _, e := range extra {
		s += " " + e
	}
	fmt.Fprintln(d.w, s)
}

func (d *Dest) String() string          { return d.inner.String() }
func (d *Dest) Features() dest.Features { return d.inner.Features() }
func (d *Dest) Close() error            { return d.inner.Close() }

func (d *Dest) Stat(ctx context.Context, rel string) (dest.Entry, error) {
	return d.inner.Stat(ctx, rel)
}

func (d *Dest) List(ctx context.Context, rel string) ([]dest.Entry, error) {
	return d.inner.List(ctx, rel)
}

func (d *Dest) Open(ctx context.Context, rel string) (io.ReadCloser, error) {
	return d.inner.Open(ctx, rel)
}

// Put prints a copy line; the reader is not read.
func (d *Dest) Put(_ context.Context, rel string, _ io.Reader, _ int64, _ dest.Meta) error {
	d.line("copy", rel)
	return nil
}

func (d *Dest) Mkdir(_ context.Context, rel string, _ dest.Meta) error {
	d.line("mkdir", rel)
	return nil
}

func (d *Dest) Symlink(_ context.Context, rel, target string, _ dest.Meta) error {
	d.line("link", rel, "->", target)
	return nil
}

func (d *Dest) SetMeta(_ context.Context, rel string, _ dest.Meta) error {
	d.line("attrs", rel)
	return nil
}

func (d *Dest) Remove(_ context.Context, rel string) error {
	d.line("delete", rel)
	return nil
}
