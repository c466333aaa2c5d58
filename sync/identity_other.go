//go:build !linux

package sync

import (
	"io/fs"

	"github.com/copyd/copyd/index"
)

// sourceIdentity is Linux-only for now: elsewhere the index keeps no
// records and the quick check is size and modification time.
func sourceIdentity(fs.FileInfo) (index.Source, bool) { return index.Source{}, false }

func destIdentity(fs.FileInfo) (index.Dest, bool) { return index.Dest{}, false }
