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
