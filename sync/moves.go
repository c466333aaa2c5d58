package sync

import (
	"context"
	"errors"
	"github.com/copyd/copyd/dest"
	"github.com/copyd/copyd/sync/settle"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/copyd/copyd/index"
	"github.com/copyd/copyd/internal/tempname"
)

// maxMoveBatch bounds the settled work moves are looked for in: the
// search runs in the pair's loop and costs a few stats per entry.
const maxMoveBatch = 1024

// maxMoveVerify bounds the entries of a moved folder that are checked
// against their records before the folder is renamed; a bigger folder is
// copied instead.
const maxMoveVerify = 100_000

// moveCandidate is a path of a settled batch that a rename may explain.
type moveCandidate struct {
	rel  string
	info fs.FileInfo // the destination's entry for a gone path, the source's for a new one
}

// moveWindow is how long a deletion is held back in case its path turns
// out to be one half of a rename: the other half of a big folder moved in
// is reported only once the whole folder is watched.
const moveWindow = time.Second

// held is a destination entry whose source is gone, waiting out moveWindow.
type held struct {
	moveCandidate
	rec   *index.Record // what copyd wrote there; nil: no rename can be proven
	until time.Time
}

// staged is a destination file moved aside, to a temp name beside the path
// it may become, until its content is proven equal to that path's source.
type staged struct {
	tmp string
	rec index.Record
}

// applyMoves finds renames in the settled work when the pair mirrors
// deletions, and returns the work left to do. A path whose source is gone
// while its destination remains is held back for moveWindow; a new path
// whose source is the very entry (device and inode) the index recorded for
// a held path gets that destination entry, instead of a deletion and a
// copy of the same bytes: renaming a video folder costs one rename, not
// gigabytes. Size and modification time are never taken as proof: see
// matchMoves. Held entries whose time is up come back as work (their
// deletion).
func (lp *livePair) applyMoves(ctx context.Context, work []settle.Work, now time.Time) []settle.Work {
	if !lp.pair.Delete {
		return work
	}
	r := lp.base
	var added []moveCandidate
	if len(work) <= maxMoveBatch && r.idx != nil {
		kept := work[:0]
		for _, s := range work {
			if s.Rel == "" || lp.busy(s.Rel) || len(lp.held) >= maxMoveBatch {
				kept = append(kept, s)
				continue
			}
			src, srcErr := lstatPath(r.srcPath(s.Rel))
			dst, dstErr := lstatPath(r.dstPath(s.Rel))
			switch {
			case errIsNotExist(srcErr) && dstErr == nil:
				lp.held = append(lp.held, held{moveCandidate{s.Rel, dst}, r.recordOf(ctx, s.Rel), now.Add(moveWindow)})
				continue // its deletion waits
			case srcErr == nil && errIsNotExist(dstErr) && (src.Mode().IsRegular() || src.IsDir()):
				added = append(added, moveCandidate{s.Rel, src})
			}
			kept = append(kept, s)
		}
		work = kept
	}
	if len(lp.held) > 0 && len(added) > 0 && lp.rootBrake() == "" {
		work = append(work, lp.matchMoves(ctx, added)...)
	}
	kept := lp.held[:0]
	for _, h := range lp.held {
		if now.Before(h.until) {
			kept = append(kept, h)
		} else {
			work = append(work, settle.Work{Rel: h.rel, Kind: settle.Path})
		}
	}
	clear(lp.held[len(kept):])
	lp.held = kept
	return work
}

// nextHeld returns when the first held entry's time is up (zero if none).
func (lp *livePair) nextHeld() time.Time {
	var next time.Time
	for _, h := range lp.held {
		if next.IsZero() || h.until.Before(next) {
			next = h.until
		}
	}
	return next
}

// matchMoves hands held destination entries to the new paths whose source
// is the entry they were copied from, and returns the scans that must
// follow. A file is moved aside to a temp name, not under its new name:
// a rename changes its ctime, so its identity no longer proves its
// content, and the path's job compares the bytes before the name is given
// (takeStaged). A folder is renamed at once, after every entry below it
// was confirmed by its full identity (entries of a renamed folder keep
// inode and ctime); entries that fail are removed from it first, and the
// scan that follows copies them.
func (lp *livePair) matchMoves(ctx context.Context, added []moveCandidate) (scans []settle.Work) {
	for i := 0; i < len(added) && len(lp.held) > 0; i++ {
		to := added[i]
		if lp.missingDestParent(to.rel) != "" {
			continue
		}
		j := slices.IndexFunc(lp.held, func(from held) bool { return sameEntry(from, to) })
		if j < 0 {
			// "mkdir new; mv old new/": look inside a new folder too.
			if to.info.IsDir() && strings.Count(to.rel, "/") < maxMoveDepth && len(added) < maxMoveBatch {
				added = append(added, lp.newChildren(to)...)
			}
			continue
		}
		from := lp.held[j]
		var err error
		if to.info.IsDir() {
			err = lp.moveFolder(ctx, from, to)
			scans = append(scans, settle.Work{Rel: to.rel, Kind: settle.Tree})
		} else {
			err = lp.stageFile(from, to)
		}
		if err != nil {
			lp.log.Debug("move not applied; copying instead", "from", from.rel, "path", to.rel, "err", err)
			continue
		}
		lp.held = slices.Delete(lp.held, j, j+1)
		lp.progress.Moved.Add(1)
		lp.markDirty(settle.Parent(from.rel))
		lp.markDirty(settle.Parent(to.rel))
		lp.log.Debug("moved", "from", from.rel, "path", to.rel)
	}
	return scans
}

// sameEntry reports whether the held destination entry was copied from
// the very source entry (device and inode) that the new path now names,
// and is still what copyd wrote.
func sameEntry(from held, to moveCandidate) bool {
	if from.rec == nil {
		return false
	}
	s, ok1 := sourceIdentity(to.info)
	d, ok2 := destIdentity(from.info)
	if !ok1 || !ok2 || s.Dev != from.rec.Src.Dev || s.Ino != from.rec.Src.Ino || d.Ino != from.rec.Dst.Ino {
		return false
	}
	switch {
	case from.rec.Kind == index.File && to.info.Mode().IsRegular() && from.info.Mode().IsRegular():
		return from.rec.Dst.Matches(d)
	case from.rec.Kind == index.Dir && to.info.IsDir() && from.info.IsDir():
		return true
	}
	return false
}

// stageFile moves the destination file of from aside, beside to.
func (lp *livePair) stageFile(from held, to moveCandidate) error {
	r := lp.base
	tmp := newTemp(r.dstPath(to.rel))
	if err := rename(r.dstPath(from.rel), tmp); err != nil {
		tempOver(tmp)
		return err
	}
	r.forget(from.rel)
	lp.mu.Lock()
	if lp.staged == nil {
		lp.staged = make(map[string]staged)
	}
	if old, ok := lp.staged[to.rel]; ok {
		removeTemp(old.tmp)
	}
	lp.staged[to.rel] = staged{tmp: tmp, rec: *from.rec}
	lp.stagedN.Store(int32(len(lp.staged)))
	lp.mu.Unlock()
	return nil
}

// takeStaged finishes a file moved aside for rel by stageFile: its bytes
// get the name rel only once proven equal to the source's, which did not
// change meanwhile; otherwise the temp is removed and rel is copied as
// usual. It reports whether rel is now in step.
func (lp *livePair) takeStaged(ctx context.Context, r *pairRun, rel string, src fs.FileInfo, in *dirMeta) bool {
	lp.mu.Lock()
	st, ok := lp.staged[rel]
	delete(lp.staged, rel)
	lp.stagedN.Store(int32(len(lp.staged)))
	lp.mu.Unlock()
	if !ok {
		return false
	}
	if !r.claim(rel) {
		removeTemp(st.tmp)
		return false
	}
	defer lp.release(rel)
	same, err := sameContent(r.srcPath(rel), st.tmp)
	if err != nil || !same || !r.stillSame(rel, src) {
		removeTemp(st.tmp)
		lp.log.Debug("moved file differs from its source; copying it", "path", rel, "err", err)
		return false
	}
	err = lp.finishStaged(ctx, r, rel, st.tmp, src, in)
	if err != nil {
		removeTemp(st.tmp)
		r.failOrPause("move", rel, err)
		return false
	}
	return true
}

// finishStaged gives the proven temp the source's metadata and the name rel.
func (lp *livePair) finishStaged(ctx context.Context, r *pairRun, rel, tmp string, src fs.FileInfo, in *dirMeta) error {
	if r.owner {
		if uid, gid, ok := owner(src); ok {
			if err := lchown(tmp, uid, gid); err != nil {
				return err
			}
		}
	}
	if err := chmodPath(tmp, src.Mode()&dest.ModeMask); err != nil {
		return err
	}
	if err := chtimesPath(tmp, time.Time{}, src.ModTime()); err != nil {
		return err
	}
	staged, err := lstatPath(tmp)
	if err != nil {
		return err
	}
	dst, err := lstatPath(r.dstPath(rel))
	if err != nil {
		dst = nil
	}
	if err := finishTemp(tmp, r.dstPath(rel), r.writeOptions(ctx, rel, dst, in).replace); err != nil {
		return err
	}
	// The rename gave the inode a new ctime: record it as it is now, and
	// only if the name still holds the file just moved.
	if made, err := lstatPath(r.dstPath(rel)); err == nil && sameFile(made, staged) {
		r.remember(rel, src, made, nil)
	}
	in.changed.Store(true)
	r.log.Debug("moved file proven equal to its source", "path", rel)
	return nil
}

// dropStagedFor removes the file moved aside for rel, if takeStaged did
// not take it (rel is no longer a regular file, say, or a scan copied it
// or found it up to date first).
func (lp *livePair) dropStagedFor(rel string) {
	if lp.stagedN.Load() == 0 {
		return // the common case, without the lock: scans call this per file
	}
	lp.mu.Lock()
	st, ok := lp.staged[rel]
	delete(lp.staged, rel)
	lp.stagedN.Store(int32(len(lp.staged)))
	lp.mu.Unlock()
	if ok {
		removeTemp(st.tmp)
	}
}

// dropStaged removes every file still moved aside (the pair stops).
func (lp *livePair) dropStaged() {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	for _, st := range lp.staged {
		removeTemp(st.tmp)
	}
	clear(lp.staged)
	lp.stagedN.Store(0)
}

// moveFolder renames the destination folder of from to to, after
// confirming every entry below against its record.
func (lp *livePair) moveFolder(ctx context.Context, from held, to moveCandidate) error {
	r := lp.base
	n := 0
	if err := lp.confirmMoved(ctx, from.rel, to.rel, &n); err != nil {
		return err
	}
	if err := renamePath(r.dstPath(from.rel), r.dstPath(to.rel)); err != nil {
		return err
	}
	if r.idx != nil {
		r.idx.Move(from.rel, to.rel)
	}
	return nil
}

var errMoveTooBig = errors.New("too many entries to confirm")

// confirmMoved checks the destination folder from (about to become to)
// entry by entry against the source folder to: what the index cannot
// prove to be the source's current content is taken out of it.
func (lp *livePair) confirmMoved(ctx context.Context, from, to string, n *int) error {
	r := lp.base
	srcEntries, err := listDir(r.srcPath(to))
	if err != nil {
		return err
	}
	dstEntries, err := r.readDestDir(from)
	if err != nil {
		return err
	}
	recs := r.records(ctx, from)
	for _, e := range srcEntries {
		if *n++; *n > maxMoveVerify {
			return errMoveTooBig
		}
		if e.err != nil || tempname.Is(e.name) {
			continue
		}
		d, ok := dstEntries[e.name]
		if !ok || d.info == nil {
			continue // the scan copies it
		}
		fromRel, toRel := relJoin(from, e.name), relJoin(to, e.name)
		rec, hasRec := recs[e.name]
		proven := false
		switch {
		case e.info.Mode().IsRegular():
			proven = hasRec && d.info.Mode().IsRegular() && lp.provenMoved(e.info, d.info, &rec, toRel, fromRel)
		case e.info.IsDir():
			if hasRec && d.info.IsDir() && sameEntry(held{moveCandidate{fromRel, d.info}, &rec, time.Time{}}, moveCandidate{toRel, e.info}) {
				if err := lp.confirmMoved(ctx, fromRel, toRel, n); err != nil {
					return err
				}
				proven = true
			}
		case e.info.Mode()&fs.ModeSymlink != 0:
			want, err1 := readlinkPath(r.srcPath(toRel))
			have, err2 := readlinkPath(r.dstPath(fromRel))
			proven = err1 == nil && err2 == nil && want == have
		default:
			proven = true // special files are not copied
		}
		if !proven {
			if err := r.removeOrArchive(ctx, fromRel); err != nil {
				return err
			}
		}
	}
	return nil
}

// provenMoved reports whether the destination file fromRel (about to be
// renamed to toRel) holds the current content of the source file toRel:
// by its record, or where the record cannot tell alone (racy, or a chmod
// since), by its bytes.
func (lp *livePair) provenMoved(src, dst fs.FileInfo, rec *index.Record, toRel, fromRel string) bool {
	switch judge(src, dst, rec) {
	case needMetadata:
		return true
	case needCompare:
		same, err := sameContent(lp.base.srcPath(toRel), lp.base.dstPath(fromRel))
		return err == nil && same
	}
	return false
}

// maxMoveDepth is how deep below the root a new folder is looked into.
const maxMoveDepth = 8

// newChildren makes the new folder dir in the destination (the scan that
// follows sets its metadata) and returns its entries as new paths.
func (lp *livePair) newChildren(dir moveCandidate) []moveCandidate {
	r := lp.base
	if err := mkdirPath(r.dstPath(dir.rel), dir.info.Mode().Perm()|0o700); err != nil {
		return nil
	}
	lp.log.Debug("folder made for a move into it", "path", dir.rel)
	entries, err := readDir(r.srcPath(dir.rel))
	if err != nil {
		return nil
	}
	var out []moveCandidate
	for _, e := range entries {
		rel := relJoin(dir.rel, e.Name())
		if tempname.Is(e.Name()) || lp.excl.Excluded(rel, e.IsDir()) {
			continue
		}
		if fi, err := lstatPath(r.srcPath(rel)); err == nil && (fi.Mode().IsRegular() || fi.IsDir()) {
			out = append(out, moveCandidate{rel, fi})
		}
	}
	return out
}

// busy reports whether work on rel is running.
func (lp *livePair) busy(rel string) bool {
	for _, k := range []settle.Kind{settle.Path, settle.Folder, settle.Tree} {
		if lp.inflight[settle.Work{Rel: rel, Kind: k}] {
			return true
		}
	}
	return false
}
