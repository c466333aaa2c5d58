package sync

import (
	"io/fs"
	"os"
	"slices"
	"strings"

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

// applyMoves finds renames among a batch of settled work when the pair
// mirrors deletions: a path whose source is gone while its destination
// remains, and a new path whose source looks the same (a file of the same
// size and modification time, a folder with the same entry names). It
// renames the destination entry instead of deleting it and copying the
// same bytes again: renaming a video folder then costs one rename, not
// gigabytes. The work itself still runs afterwards and corrects whatever
// the guess got wrong, so a wrong match costs time, never data.
func (lp *livePair) applyMoves(work []settled) {
	if !lp.pair.Delete || len(work) < 2 || len(work) > maxMoveBatch {
		return
	}
	r := lp.base
	var gone, added []moveCandidate
	for _, s := range work {
		if s.rel == "" || lp.busy(s.rel) {
			continue
		}
		src, srcErr := os.Lstat(r.srcPath(s.rel))
		dst, dstErr := os.Lstat(r.dstPath(s.rel))
		switch {
		case errIsNotExist(srcErr) && dstErr == nil:
			gone = append(gone, moveCandidate{s.rel, dst})
		case srcErr == nil && errIsNotExist(dstErr) && (src.Mode().IsRegular() || src.IsDir()):
			added = append(added, moveCandidate{s.rel, src})
		}
	}
	if len(gone) == 0 || len(added) == 0 || lp.rootBrake() != "" {
		return
	}
	for i := 0; i < len(added) && len(gone) > 0; i++ {
		to := added[i]
		if lp.missingDestParent(to.rel) != "" {
			continue
		}
		j := slices.IndexFunc(gone, func(from moveCandidate) bool { return lp.sameEntry(from, to) })
		if j < 0 {
			// "mkdir new; mv old new/": look inside a new folder too.
			if to.info.IsDir() && strings.Count(to.rel, "/") < maxMoveDepth && len(added) < maxMoveBatch {
				added = append(added, lp.newChildren(to)...)
			}
			continue
		}
		from := gone[j]
		if err := os.Rename(r.dstPath(from.rel), r.dstPath(to.rel)); err != nil {
			lp.log.Debug("move not applied; copying instead", "from", from.rel, "path", to.rel, "err", err)
			continue
		}
		gone = slices.Delete(gone, j, j+1)
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
