package sync

import (
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/copyd/copyd/internal/tempname"
)

// maxMoveBatch bounds the settled work moves are looked for in: the
// search runs in the pair's loop and costs a few stats per entry.
const maxMoveBatch = 1024

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
	until time.Time
}

// applyMoves finds renames in the settled work when the pair mirrors
// deletions, and returns the work left to do. A path whose source is gone
// while its destination remains is held back for moveWindow; a new path
// whose source looks like a held entry (a file of the same size and
// modification time, a folder with the same entry names) gets that entry
// renamed to it, instead of a deletion and a copy of the same bytes
// (renaming a video folder costs one rename, not gigabytes). The work on
// both paths still runs and corrects whatever the guess got wrong: a wrong
// match costs time, never data. Held entries whose time is up come back as
// work (their deletion).
func (lp *livePair) applyMoves(work []settled, now time.Time) []settled {
	if !lp.pair.Delete {
		return work
	}
	r := lp.base
	var added []moveCandidate
	if len(work) <= maxMoveBatch {
		kept := work[:0]
		for _, s := range work {
			if s.rel == "" || lp.busy(s.rel) || len(lp.held) >= maxMoveBatch {
				kept = append(kept, s)
				continue
			}
			src, srcErr := os.Lstat(r.srcPath(s.rel))
			dst, dstErr := os.Lstat(r.dstPath(s.rel))
			switch {
			case errIsNotExist(srcErr) && dstErr == nil:
				lp.held = append(lp.held, held{moveCandidate{s.rel, dst}, now.Add(moveWindow)})
				continue // its deletion waits
			case srcErr == nil && errIsNotExist(dstErr) && (src.Mode().IsRegular() || src.IsDir()):
				added = append(added, moveCandidate{s.rel, src})
			}
			kept = append(kept, s)
		}
		work = kept
	}
	if len(lp.held) > 0 && len(added) > 0 && lp.rootBrake() == "" {
		lp.matchMoves(added)
	}
	kept := lp.held[:0]
	for _, h := range lp.held {
		if now.Before(h.until) {
			kept = append(kept, h)
		} else {
			work = append(work, settled{rel: h.rel, kind: workPath})
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

// matchMoves renames held destination entries to the new paths they match.
func (lp *livePair) matchMoves(added []moveCandidate) {
	r := lp.base
	for i := 0; i < len(added) && len(lp.held) > 0; i++ {
		to := added[i]
		if lp.missingDestParent(to.rel) != "" {
			continue
		}
		j := slices.IndexFunc(lp.held, func(from held) bool { return lp.sameEntry(from.moveCandidate, to) })
		if j < 0 {
			// "mkdir new; mv old new/": look inside a new folder too.
			if to.info.IsDir() && strings.Count(to.rel, "/") < maxMoveDepth && len(added) < maxMoveBatch {
				added = append(added, lp.newChildren(to)...)
			}
			continue
		}
		from := lp.held[j]
		if err := os.Rename(r.dstPath(from.rel), r.dstPath(to.rel)); err != nil {
			lp.log.Debug("move not applied; copying instead", "from", from.rel, "path", to.rel, "err", err)
			continue
		}
		lp.held = slices.Delete(lp.held, j, j+1)
		lp.progress.Moved.Add(1)
		lp.markDirty(parentRel(from.rel))
		lp.markDirty(parentRel(to.rel))
		lp.log.Debug("moved", "from", from.rel, "path", to.rel)
	}
}

// maxMoveDepth is how deep below the root a new folder is looked into.
const maxMoveDepth = 8

// newChildren makes the new folder dir in the destination (the scan that
// follows sets its metadata) and returns its entries as new paths.
func (lp *livePair) newChildren(dir moveCandidate) []moveCandidate {
	r := lp.base
	if err := os.Mkdir(r.dstPath(dir.rel), dir.info.Mode().Perm()|0o700); err != nil {
		return nil
	}
	entries, err := readDir(r.srcPath(dir.rel))
	if err != nil {
		return nil
	}
	var out []moveCandidate
	for _, e := range entries {
		rel := relJoin(dir.rel, e.Name())
		if tempname.Is(e.Name()) || lp.excl.excluded(rel, e.IsDir()) {
			continue
		}
		if fi, err := e.Info(); err == nil && (fi.Mode().IsRegular() || fi.IsDir()) {
			out = append(out, moveCandidate{rel, fi})
		}
	}
	return out
}

// busy reports whether work on rel is running.
func (lp *livePair) busy(rel string) bool {
	for _, k := range []workKind{workPath, workFolder, workTree} {
		if lp.inflight[settled{rel: rel, kind: k}] {
			return true
		}
	}
	return false
}

// sameEntry reports whether the destination entry of a gone path looks
// like the source of a new one.
func (lp *livePair) sameEntry(from, to moveCandidate) bool {
	switch {
	case from.info.Mode().IsRegular() && to.info.Mode().IsRegular():
		return from.info.Size() == to.info.Size() && from.info.ModTime().Equal(to.info.ModTime())
	case from.info.IsDir() && to.info.IsDir():
		a, err1 := readNames(lp.base.dstPath(from.rel))
		b, err2 := readNames(lp.base.srcPath(to.rel))
		return err1 == nil && err2 == nil && len(a) > 0 && slices.Equal(a, b)
	}
	return false
}

// readNames returns the sorted entry names of a folder.
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	slices.Sort(names)
	return names, err
}
