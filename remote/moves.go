//go:build linux

package remote

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/copyd/copyd/dest"
	"github.com/copyd/copyd/index"
)

// Renames on the destination. A folder or file renamed within one source
// folder (mv a b, a folder reorganized) is renamed on the server, or
// copied there server-side and removed (S3), instead of being sent again
// and deleted under its old name. The match is exact: the gone name's
// record has the new entry's device and inode. A folder's entries keep
// their inodes and ctimes when it is renamed, so their records prove them
// under the new name, and the moved folder is scanned whole at once (a
// change made just before the rename is found). A renamed file's ctime
// moves, so its content is proven by a fresh hash of the source against
// the recorded one before the server's copy is kept.

// movable reports whether renames become moves on the destination: the
// pair mirrors deletions (without delete: true the old name stays, so
// the new one is sent) and the destination can move entries itself.
func (r *pairRun) movable() bool {
	if !r.pair.Delete {
		return false
	}
	switch r.dst.(type) {
	case dest.Renamer, dest.Copier:
		return true
	}
	return false
}

// renamedFrom returns the name, among the folder's records, that the new
// source entry e was renamed from: a record of the same kind, device and
// inode under a name the source no longer has, not claimed by another.
func renamedFrom(e *srcEntry, recs map[string]index.Record, present, claimed map[string]bool) (string, index.Record, bool) {
	kind := index.File
	if e.isDir() {
		kind = index.Dir
	}
	for name, rec := range recs {
		if rec.Kind == kind && rec.Src.Ino == e.st.Ino && rec.Src.Dev == uint64(e.st.Dev) && !present[name] && !claimed[name] {
			return name, rec, true
		}
	}
	return "", index.Record{}, false
}

// moveFile moves the recorded copy of from to to, once the source at to
// is proven to hold the recorded content; it reports whether to is then
// in step.
func (p *pass) moveFile(ctx context.Context, from, to string, e *srcEntry, old index.Record) bool {
	r := p.r
	if len(old.Hash) == 0 {
		return false
	}
	sum, st, err := hashSource(r.srcPath(to))
	if err != nil || !bytes.Equal(sum, old.Hash) || identity(&st, "") != identity(&e.st, "") {
		return false
	}
	if !r.move(ctx, from, to, false) {
		return false
	}
	if r.idx != nil {
		r.idx.Move(from, to)
	}
	r.put(to, index.Record{Kind: index.File, Racy: racy(st.Ctim.Nano()), Src: identity(&st, ""), Dst: old.Dst, Hash: old.Hash,
		CopiedNs: time.Now().UnixNano()})
	r.progress.Moved.Add(1)
	r.log.Debug("moved", "from", from, "to", to)
	return true
}

// moveFolder moves the destination folder from, and its records, to to.
func (p *pass) moveFolder(ctx context.Context, from, to string) bool {
	r := p.r
	if !r.move(ctx, from, to, true) {
		return false
	}
	if r.idx != nil {
		r.idx.Move(from, to)
	}
	r.progress.Moved.Add(1)
	r.log.Debug("moved", "from", from, "to", to)
	return true
}

// move renames from to to on the destination (Renamer), or copies it
// there and removes the original (Copier: every object of a folder). A
// failure leaves the engine to send to as new: it is logged at debug
// level only, since nothing is lost.
func (r *pairRun) move(ctx context.Context, from, to string, isDir bool) bool {
	var err error
	switch d := r.dst.(type) {
	case dest.Renamer:
		err = d.Rename(ctx, from, to)
	case dest.Copier:
		// A copy and then a removal: the intent goes into the index
		// first, so that a crash in between makes the next start list
		// the destination and remove what the move left (intentsLeft).
		if r.idx != nil {
			r.idx.Unfinished(from)
			r.idx.Flush(ctx)
		}
		r.movesOpen.Add(1)
		defer r.movesOpen.Add(-1)
		if err = r.copyTree(ctx, d, from, to, isDir); err == nil {
			if isDir {
				if !r.removeQuietly(ctx, from) {
					r.movesLeft.Store(true)
				}
			} else {
				err = ignoreNotExist(r.dst.Remove(ctx, from))
			}
		}
	default:
		return false
	}
	if err != nil {
		r.log.Debug("move on the destination failed; sending it again instead", "from", from, "to", to, "err", err)
		return false
	}
	return true
}

// copyTree copies from (a file, or a folder with everything below it) to
// to on the server.
func (r *pairRun) copyTree(ctx context.Context, c dest.Copier, from, to string, isDir bool) error {
	if !isDir {
		return c.Copy(ctx, from, to)
	}
	es, err := r.dst.List(ctx, from)
	if err != nil {
		return err
	}
	if err := r.dst.Mkdir(ctx, to, dest.NoOwner(0o755, time.Time{})); err != nil {
		return err
	}
	for _, e := range es {
		if err := r.copyTree(ctx, c, relJoin(from, e.Name), relJoin(to, e.Name), e.Kind == dest.Dir); err != nil {
			return err
		}
	}
	return nil
}

// removeQuietly removes the folder rel and what it holds, best effort,
// without counting deletions: what it left is an extra the next listing
// finds.
func (r *pairRun) removeQuietly(ctx context.Context, rel string) bool {
	es, err := r.dst.List(ctx, rel)
	if err != nil {
		return errors.Is(err, dest.ErrNotExist)
	}
	all := true
	for _, e := range es {
		crel := relJoin(rel, e.Name)
		if e.Kind == dest.Dir {
			all = r.removeQuietly(ctx, crel) && all
		} else if err := r.dst.Remove(ctx, crel); err != nil && !errors.Is(err, dest.ErrNotExist) {
			all = false
		}
	}
	return ignoreNotExist(r.dst.Remove(ctx, rel)) == nil && all
}

// intentsLeft reports whether a move on the destination was cut short
// (a crash between its copy and its removal): the pass must then list
// the destination, which finds what the move left.
func (r *pairRun) intentsLeft(ctx context.Context) bool {
	if r.idx == nil {
		return false
	}
	left := r.idx.UnfinishedFolders(ctx)
	if len(left) > 0 {
		r.log.Warn("a move on the destination was cut short; comparing both in full", "from", left[0], "moves", len(left))
	}
	return len(left) > 0
}

// intentsDone forgets the moves' intents once a pass completed with no
// move in flight: everything they left is gone or listed.
func (r *pairRun) intentsDone(ctx context.Context) {
	if r.idx != nil && r.movesOpen.Load() == 0 && !r.movesLeft.Load() && !r.isPaused() && ctx.Err() == nil {
		r.idx.FinishedAll()
	}
}
