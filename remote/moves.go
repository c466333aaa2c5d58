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

// sameFolder reports whether the source folder rel holds what the
// records of the destination folder from describe: one of its entries
// has its recorded name, device and inode (a recorded folder with no
// entries qualifies at once). A folder's inode alone is no proof: rm -rf
// old; mkdir new reuses it at once, and a "move" would copy the whole
// old folder on S3.
func (r *pairRun) sameFolder(ctx context.Context, rel, from string) bool {
	if r.idx == nil {
		return false
	}
	recs := r.idx.Dir(ctx, from)
	if len(recs) == 0 {
		return true
	}
	entries, err := listSource(r.srcPath(rel))
	if err != nil {
		return false
	}
	for i := range entries {
		e := &entries[i]
		if rec, ok := recs[e.name]; ok && e.err == nil && rec.Src.Ino == e.st.Ino && rec.Src.Dev == uint64(e.st.Dev) {
			return true
		}
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
		r.intendWork(ctx, from)
		defer r.intentsOpen.Add(-1)
		if err = r.copyTree(ctx, d, from, to, isDir); err == nil {
			if isDir {
				if !r.removeQuietly(ctx, from) {
					r.intentsKept.Store(true)
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

// Intents. Work on the destination that leaves something behind when it
// is cut short (a crash, a lost connection) notes its path in the index
// first (its pending table): a move on S3 (copies, then removals), a big
// upload (S3 parts, an SFTP temp file), an upload whose connection
// dropped. A start that finds intents aborts the incomplete uploads of
// those paths (Aborter) and lists the destination in full, which removes
// the rest; intents are forgotten after a pass with none open and none
// failed.

// intendWork notes the intent of work on rel, committed before it
// returns: the work may start at once, and a crash may follow.
func (r *pairRun) intendWork(ctx context.Context, rel string) {
	r.intentsOpen.Add(1)
	if r.idx != nil {
		r.idx.Unfinished(rel)
		r.idx.Flush(ctx)
	}
}

// intentsLeft reports whether work on the destination was cut short, and
// aborts the incomplete uploads it left.
func (r *pairRun) intentsLeft(ctx context.Context) bool {
	if r.idx == nil {
		return false
	}
	left := r.idx.UnfinishedFolders(ctx)
	if len(left) == 0 {
		return false
	}
	r.log.Warn("work on the destination was cut short (a crash or a lost connection); comparing both in full", "path", left[0], "paths", len(left))
	if a, ok := r.dst.(dest.Aborter); ok {
		for _, rel := range left {
			if err := a.AbortIncomplete(ctx, rel); err != nil && !errors.Is(err, dest.ErrNotExist) {
				r.log.Debug("incomplete upload not aborted", "path", rel, "err", err)
			}
		}
	}
	return true
}

// intentsDone forgets the intents once a pass completed with none open
// and none that failed.
func (r *pairRun) intentsDone(ctx context.Context) {
	if r.idx != nil && r.intentsOpen.Load() == 0 && !r.intentsKept.Load() && !r.isPaused() && ctx.Err() == nil {
		r.idx.FinishedAll()
	}
}
