package sync

import (
	"bytes"
	"context"
	"errors"
	"github.com/copyd/copyd/sync/workpool"
	"io"
	"io/fs"
	"time"

	"github.com/copyd/copyd/index"
)

// fileNeed is what a regular file needs to be in step.
type fileNeed uint8

const (
	needCopy     fileNeed = iota
	needMetadata          // the content is the same: set mode, owner, mtime
	needCompare           // checksum: compare the contents, copy if they differ
)

// fileNeeds is the quick check. With a record of the last copy (rec) it
// is exact: see judge. Without one it is rsync's (a destination file of
// the same size and modification time is up to date) only where no record
// could be expected: a fresh index (a first run, a rebuild) or none, or a
// system where copyd keeps no records; a kept index that lacks the record
// has the bytes compared. With checksum, a file of the same size is
// compared byte by byte.
func (r *pairRun) fileNeeds(src, dst fs.FileInfo, rec *index.Record) fileNeed {
	switch {
	case dst == nil || !dst.Mode().IsRegular() || dst.Size() != src.Size():
		return needCopy
	case r.pair.Checksum:
		return needCompare
	case rec != nil:
		return judge(src, dst, rec)
	case !dst.ModTime().Equal(src.ModTime()):
		return needCopy
	case r.recordExpected(src):
		// An index that has been kept lacks this file's record: a crash
		// lost it before it was committed, or someone else put the file
		// there. Its size and mtime are no proof (the source may have been
		// rewritten with both kept since): compare the bytes.
		return needCompare
	default:
		return needMetadata
	}
}

// recordExpected says the index would hold a record of src's copy had
// copyd made or checked it: the index was kept from an earlier run and
// records are made on this system.
func (r *pairRun) recordExpected(src fs.FileInfo) bool {
	if r.idx == nil || r.idx.Fresh {
		return false
	}
	_, ok := sourceIdentity(src)
	return ok
}

// planFile decides what the regular file rel needs: nothing, new metadata,
// or a copy (queued on the pool).
func (r *pairRun) planFile(ctx context.Context, b *batch, rel string, src, dst fs.FileInfo, rec *index.Record, in *dirMeta) {
	switch r.fileNeeds(src, dst, rec) {
	case needMetadata:
		r.markUpToDate(rel, src, dst, rec)
	case needCompare:
		b.add(ctx, src.Size(), func(ctx context.Context) { r.compareAndCopy(ctx, rel, src, dst, rec, in) })
	default:
		r.queueCopy(ctx, b, rel, src, dst, in)
	}
}

// queueCopy counts a file as to be copied and queues the copy.
func (r *pairRun) queueCopy(ctx context.Context, b *batch, rel string, src, dst fs.FileInfo, in *dirMeta) {
	r.progress.FilesQueued.Add(1)
	r.progress.BytesQueued.Add(src.Size())
	if r.dryRun {
		r.planLine("copy", rel)
		r.progress.FilesDone.Add(1)
		r.progress.BytesDone.Add(src.Size())
		return
	}
	b.add(ctx, src.Size(), func(ctx context.Context) { r.copyOne(ctx, rel, src, dst, in) })
}

// submit queues job on the pair's queue; it gives up only when ctx ends.
func (r *pairRun) submit(ctx context.Context, job workpool.Job) {
	if err := r.queue.Submit(ctx, job); err != nil {
		r.log.Debug("not queued", "err", err)
	}
}

// copyOne copies one file with retries and records the outcome.
//
// In the daemon a path is copied by one job at a time: a scan's copy and
// a change's copy of the same file could otherwise finish in the wrong
// order and leave the older version under the final name. The job that
// finds the path taken queues it again.
func (r *pairRun) copyOne(ctx context.Context, rel string, src, dst fs.FileInfo, in *dirMeta) (copied bool) {
	start := time.Now()
	var n int64
	o := r.writeOptions(ctx, rel, dst, in)
	var id copyIdentity
	o.identity = &id
	handedOff := false
	if !r.claim(rel) {
		return false
	}
	defer func() {
		if !handedOff {
			r.kind.release(rel)
		}
	}()
	if r.commit != nil {
		o.handoff = func(tmpPath string, n int64) error {
			err := r.commit.add(ctx, commitItem{tmpPath: tmpPath, rel: rel, replace: o.replace, in: in, bytes: n, start: start, id: id})
			handedOff = err == nil // the committer renames it, counts it and releases the path
			return err
		}
	}
	ok := r.retry(ctx, "copy", rel, func() (err error) {
		n, err = copyFile(ctx, r.srcPath(rel), r.dstPath(rel), o)
		return err
	})
	if ok {
		r.kind.sourceRead(rel, start)
	}
	if !ok || handedOff {
		return false
	}
	r.kind.recovered(rel, stepDone)
	r.recordCopy(rel, id)
	in.changed.Store(true)
	r.progress.FilesDone.Add(1)
	r.progress.BytesDone.Add(n)
	r.log.Debug("copied", "path", rel, "bytes", n, "dur", time.Since(start))
	r.kind.copied(r.pair.Name, n, time.Since(start))
	return true
}

// claim takes rel for this job's copy: in the daemon a path is copied by
// one job at a time, and when another holds it rel is queued again and
// claim returns false.
func (r *pairRun) claim(rel string) bool { return r.kind.claim(rel) }

// compareAndCopy compares contents (checksum: true) and copies only when
// they differ; equal contents get their metadata fixed instead.
//
// Equal contents are proof only while the source stayed as it was: a
// source that changed during the comparison is copied instead.
func (r *pairRun) compareAndCopy(ctx context.Context, rel string, src, dst fs.FileInfo, rec *index.Record, in *dirMeta) {
	same, err := sameContent(r.srcPath(rel), r.dstPath(rel))
	if err == nil && same && r.stillSame(rel, src) {
		r.markUpToDate(rel, src, dst, rec)
		return
	}
	if err != nil && !errIsNotExist(err) {
		r.log.Debug("compare failed; copying", "path", rel, "err", err)
	}
	r.progress.FilesQueued.Add(1)
	r.progress.BytesQueued.Add(src.Size())
	if r.dryRun {
		r.planLine("copy", rel, "(content differs)")
		r.progress.FilesDone.Add(1)
		return
	}
	r.copyOne(ctx, rel, src, dst, in)
}

// stillSame reports whether the source rel still has the identity (or,
// where there is none, the size and mtime) it had in src.
func (r *pairRun) stillSame(rel string, src fs.FileInfo) bool {
	now, err := lstatPath(r.srcPath(rel))
	if err != nil {
		return false
	}
	a, ok1 := sourceIdentity(src)
	b, ok2 := sourceIdentity(now)
	if ok1 && ok2 {
		return a == b
	}
	return now.Size() == src.Size() && now.ModTime().Equal(src.ModTime())
}

// sameContent compares two files byte by byte.
func sameContent(a, b string) (bool, error) {
	fa, err := openSource(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := openSource(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 256<<10), make([]byte, 256<<10)
	for {
		na, erra := io.ReadFull(fa, ba)
		nb, errb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if errors.Is(erra, io.EOF) || errors.Is(erra, io.ErrUnexpectedEOF) {
			return errors.Is(errb, io.EOF) || errors.Is(errb, io.ErrUnexpectedEOF), nil
		}
		if erra != nil {
			return false, erra
		}
		if errb != nil {
			return false, errb
		}
	}
}

// markUpToDate fixes the metadata of the up-to-date file rel and records
// it. Setting metadata moves the destination's ctime, so a file it touched
// is read again first; one that is no longer the same file is not recorded.
func (r *pairRun) markUpToDate(rel string, src, dst fs.FileInfo, rec *index.Record) {
	if r.fixMetadata(rel, src, dst) {
		now, err := lstatPath(r.dstPath(rel))
		if err != nil || !sameDestFile(now, dst) {
			return
		}
		dst = now
	}
	r.remember(rel, src, dst, rec)
}

// sameDestFile reports whether two stats of a destination name, taken
// around copyd's own metadata change, are of one file: same inode and
// size. One of them may come from a record (listRecorded), which
// os.SameFile does not know.
func sameDestFile(a, b fs.FileInfo) bool {
	x, ok1 := destIdentity(a)
	y, ok2 := destIdentity(b)
	if ok1 && ok2 {
		return x.Ino == y.Ino && x.Size == y.Size
	}
	return sameFile(a, b)
}

// fixMetadata brings an up-to-date file's mode (and owner, as root) in step
// without copying it, and counts it as up to date. It reports whether it
// changed (or tried to change) the destination entry.
func (r *pairRun) fixMetadata(rel string, src, dst fs.FileInfo) (touched bool) {
	r.progress.UpToDate.Add(1)
	mask := fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
	needMode := dst.Mode()&mask != src.Mode()&mask
	needOwner := r.owner && !sameOwner(src, dst)
	needTime := !dst.ModTime().Equal(src.ModTime())
	if !needMode && !needOwner && !needTime {
		return false
	}
	if r.dryRun {
		r.planLine("attrs", rel)
		return false
	}
	p := r.dstPath(rel)
	var err error
	if needOwner {
		if uid, gid, ok := owner(src); ok {
			err = lchown(p, uid, gid)
		}
	}
	if err == nil && (needMode || needOwner) {
		err = chmodPath(p, src.Mode()&mask)
	}
	if err == nil && needTime {
		err = chtimesPath(p, time.Time{}, src.ModTime())
	}
	if err != nil {
		r.fail("set metadata", rel, err)
	}
	return true
}

// planSymlink queues the symlink rel unless the destination already holds a
// symlink with the same target text (see symlinkUpToDate).
func (r *pairRun) planSymlink(ctx context.Context, b *batch, rel string, src, dst fs.FileInfo, in *dirMeta) {
	if r.symlinkUpToDate(rel, src, dst) {
		return
	}
	r.progress.FilesQueued.Add(1)
	if r.dryRun {
		target, _ := readlinkPath(r.srcPath(rel))
		r.planLine("link", rel, "->", target)
		r.progress.FilesDone.Add(1)
		return
	}
	b.add(ctx, 0, func(ctx context.Context) { r.linkOne(ctx, rel, dst, in) })
}

// symlinkUpToDate reports (and counts) whether the destination, dst,
// already holds a symlink with the target text of the source symlink src.
// Such a link gets src's own mtime (and owner, as root) where it lacks
// them: a link made again with the same target (ln -sfn, git checkout,
// tar -x) or touched with touch -h has a new mtime, which rsync -a brings
// too.
func (r *pairRun) symlinkUpToDate(rel string, src, dst fs.FileInfo) bool {
	if dst == nil || dst.Mode()&fs.ModeSymlink == 0 {
		return false
	}
	want, err1 := readlinkPath(r.srcPath(rel))
	have, err2 := readlinkPath(r.dstPath(rel))
	if err1 != nil || err2 != nil || want != have {
		return false
	}
	r.progress.UpToDate.Add(1)
	r.fixLinkMetadata(rel, src, dst)
	return true
}

// fixLinkMetadata gives the destination symlink rel, dst, the owner (as
// root) and own mtime of the source symlink src where they differ, set on
// the link itself (lchown, lutimes), never on what it points to.
func (r *pairRun) fixLinkMetadata(rel string, src, dst fs.FileInfo) {
	needOwner := r.owner && !sameOwner(src, dst)
	needTime := linkTimes && !dst.ModTime().Equal(src.ModTime())
	if !needOwner && !needTime {
		return
	}
	if r.dryRun {
		r.planLine("attrs", rel)
		return
	}
	p := r.dstPath(rel)
	var err error
	if needOwner {
		if uid, gid, ok := owner(src); ok {
			err = lchown(p, uid, gid)
		}
	}
	if err == nil && needTime {
		err = setLinkTime(p, src.ModTime())
	}
	if err != nil {
		r.fail("set metadata", rel, err)
	}
}

// linkOne recreates the symlink rel with retries and records the outcome.
func (r *pairRun) linkOne(ctx context.Context, rel string, dst fs.FileInfo, in *dirMeta) (copied bool) {
	if !r.claim(rel) {
		return false
	}
	defer r.kind.release(rel)
	o := r.writeOptions(ctx, rel, dst, in)
	if !r.retry(ctx, "copy symlink", rel, func() error { return copySymlink(r.srcPath(rel), r.dstPath(rel), o) }) {
		return false
	}
	in.changed.Store(true)
	r.progress.FilesDone.Add(1)
	r.log.Debug("symlink copied", "path", rel)
	return true
}

// writeOptions says how to write rel over what the destination holds (dst,
// nil if nothing): a folder in the way needs delete or archive; an old file
// goes to the archive when one is set.
func (r *pairRun) writeOptions(ctx context.Context, rel string, dst fs.FileInfo, in *dirMeta) writeOptions {
	o := writeOptions{fsync: r.pair.Fsync, owner: r.owner, setgidDir: in.setgid, fresh: dst == nil, busyWithin: r.busyWithin, holdWriters: r.holdWriters}
	switch {
	case dst == nil:
	case dst.IsDir():
		o.replace = func() error {
			if !r.pair.Delete && r.pair.Archive == "" {
				return ErrTypeConflict
			}
			return r.removeOrArchive(ctx, rel)
		}
	case r.pair.Archive != "":
		o.replace = func() error { return r.removeOrArchive(ctx, rel) }
	}
	return o
}
