package sync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/index"
)

// racyWindow: a source changed less than this long before copyd's last
// look at it may be changed again within the same timestamp tick, with the
// same ctime; its record proves nothing until its content is compared.
// Timestamps advance by the kernel's tick (1–10 ms); the margin is wide.
const racyWindow = 100 * time.Millisecond

// coarseWindow replaces racyWindow for a timestamp with no nanoseconds:
// filesystems that keep whole seconds (ext2/ext3, ext4 with 128-byte
// inodes, HFS+, many NFS servers) or two (FAT) give every change within
// that second the same ctime, so a record is proof only once the whole
// tick has passed. On a nanosecond filesystem one change in a billion
// lands on a whole second and is compared once more: harmless.
const coarseWindow = 2*time.Second + racyWindow

// SettleWindow is how long after the change time ctimeNs a look at the
// entry must come for its record to prove anything (the remote engine
// uses the same rule).
func SettleWindow(ctimeNs int64) time.Duration {
	if ctimeNs%int64(time.Second) == 0 {
		return coarseWindow
	}
	return racyWindow
}

// copyIdentity is what a finished copy tells the index: the source as it
// was read and the destination file made from it.
type copyIdentity struct {
	src index.Source
	dst index.Dest
	ok  bool
}

// judge is the quick check with memory: a file whose source and
// destination both still match the record of the copy is up to date. The
// destination matches by inode, size, mtime and ctime: ctime moves on
// every write, so a destination file rewritten in place by anyone else is
// compared even where its size and mtime were put back.
// One that is the same inode with the same size and mtime but a new ctime
// (chmod and chown move it, and so does a write that put the mtime back)
// or a racy record is compared byte by byte; anything else is copied. Size
// and modification time alone are never taken for proof where a record
// exists.
func judge(src, dst fs.FileInfo, rec *index.Record) fileNeed {
	s, ok1 := sourceIdentity(src)
	d, ok2 := destIdentity(dst)
	switch {
	case !ok1 || !ok2 || rec.Kind != index.File || !rec.Dst.SameFile(d):
		return needCopy
	case !rec.Dst.Matches(d):
		// The destination file was changed since copyd left it (its
		// ctime moved) though size and mtime are back: cp -p, touch -r
		// or a restore wrote it in place. Its bytes are no longer known.
		return needCompare
	case rec.Src == s && !rec.Racy:
		return needMetadata
	case rec.Src.Dev == s.Dev && rec.Src.Ino == s.Ino && rec.Src.Size == s.Size && rec.Src.MtimeNs == s.MtimeNs:
		return needCompare
	}
	return needCopy
}

// remember records that the destination file rel, dst, holds the content
// of the source file src (after fixMetadata: its mode and mtime are the
// source's). It writes only what the index does not already say.
func (r *pairRun) remember(rel string, src, dst fs.FileInfo, rec *index.Record) {
	if r.idx == nil || r.dryRun {
		return
	}
	s, ok1 := sourceIdentity(src)
	d, ok2 := destIdentity(dst)
	if !ok1 || !ok2 {
		return
	}
	d.MtimeNs = s.MtimeNs
	if rec != nil && rec.Kind == index.File && rec.Src == s && rec.Dst == d && !rec.Racy {
		return
	}
	r.put(rel, index.Record{Kind: index.File, Src: s, Dst: d})
}

// recordCopy records a copy that reached its final name. A copy that
// could not read its ctime under that name (a rename gives the inode a new
// one) is read again here: a record is made only of the very file copied.
func (r *pairRun) recordCopy(rel string, id copyIdentity) {
	if r.idx == nil || !id.ok {
		return
	}
	if id.dst.CtimeNs == 0 {
		fi, err := lstatPath(r.dstPath(rel))
		if err != nil {
			return
		}
		d, ok := destIdentity(fi)
		if !ok || !id.dst.SameFile(d) {
			return
		}
		id.dst = d
	}
	r.put(rel, index.Record{Kind: index.File, Src: id.src, Dst: id.dst})
}

// put writes rec for rel, marking it racy when the source changed just
// before.
func (r *pairRun) put(rel string, rec index.Record) {
	now := time.Now().UnixNano()
	rec.CopiedNs = now
	rec.Racy = now-rec.Src.CtimeNs < int64(SettleWindow(rec.Src.CtimeNs))
	r.idx.Put(rel, rec)
}

// forget drops what the index knows of rel and below, once the
// destination no longer holds it.
func (r *pairRun) forget(rel string) {
	if r.idx != nil && !r.dryRun {
		r.idx.Delete(rel)
	}
}

// dirCtimeMargin: a folder's ctime is recorded only when it is older than
// the pass by this much (coarseWindow where the destination keeps whole
// seconds, see SettleWindow). A change made after copyd's stat, in the
// same timestamp tick, would keep the ctime; a change a tick later cannot.
const dirCtimeMargin = time.Second

// rememberDir records the folder rel: the source folder's device tells
// later scans which disk its files were on. With listed (the folder's
// records were exactly its listing, see recordsExact, and this pass
// changed nothing in it) its ctime is recorded too, so that a later start
// can take its listing from the records (dirUnchanged). Only the
// identities count (a folder's times change with its entries).
func (r *pairRun) rememberDir(rel string, src, dst fs.FileInfo, rec *index.Record, listed bool) {
	if r.idx == nil || r.dryRun || rel == "" {
		return
	}
	s, ok1 := sourceIdentity(src)
	d, ok2 := destIdentity(dst)
	if !ok1 || !ok2 {
		return
	}
	s = index.Source{Dev: s.Dev, Ino: s.Ino}
	ctime := d.CtimeNs
	d = index.Dest{Ino: d.Ino}
	if listed && ctime < r.started.Add(-max(dirCtimeMargin, SettleWindow(ctime))).UnixNano() {
		d.CtimeNs = ctime
	}
	if rec != nil && rec.Kind == index.Dir && rec.Src == s && rec.Dst == d {
		return
	}
	r.idx.Put(rel, index.Record{Kind: index.Dir, Src: s, Dst: d, CopiedNs: time.Now().UnixNano()})
}

// mountGone reports (and logs) whether the source folder of it is a
// folder of its parent's disk, empty but for temp files and excluded
// entries, where the index knows a folder of another disk: a disk
// unmounted from it (unplugged, not yet mounted after a reboot). Its
// files would look deleted.
func (r *pairRun) mountGone(it dirItem, entries []entry) bool {
	if it.rec == nil || it.rec.Kind != index.Dir || it.parent == nil || it.parent.src == nil {
		return false
	}
	if !r.onlyIgnored(it.rel, entries) { // a stray excluded file does not make it full
		return false
	}
	cur, ok1 := sourceIdentity(it.src)
	parent, ok2 := sourceIdentity(it.parent.src)
	if !ok1 || !ok2 || cur.Dev == it.rec.Src.Dev || cur.Dev != parent.Dev {
		return false
	}
	r.log.Error("deleting nothing in this folder: it was a mount point of another disk and is now empty; is the disk mounted? copyd deletes again once its files are back (to confirm the disk is gone for good, remove the folder from the source)",
		"path", it.rel)
	return true
}

// records returns the index's records of the folder rel (nil without an index).
func (r *pairRun) records(ctx context.Context, rel string) map[string]index.Record {
	if r.idx == nil {
		return nil
	}
	return r.idx.Dir(ctx, rel)
}

// recordsFor returns the index's records of the folder of it: from its
// parent's batch where the parent reads its subfolders' in batches.
func (r *pairRun) recordsFor(ctx context.Context, it dirItem) map[string]index.Record {
	if r.idx != nil && it.parent != nil && it.parent.kids != nil {
		if recs, ok := it.parent.kids.take(ctx, r.idx, it.rel); ok {
			return recs
		}
	}
	return r.records(ctx, it.rel)
}

// recordOf returns the index's record of rel, nil if none.
func (r *pairRun) recordOf(ctx context.Context, rel string) *index.Record {
	if r.idx == nil {
		return nil
	}
	if rec, ok := r.idx.Get(ctx, rel); ok {
		return &rec
	}
	return nil
}

// openIndex opens the index of pair p in stateDir (read-only for a dry
// run). No state folder means no index. A destination in use by another
// copyd is an error ([index.ErrLocked]); any other failure is logged and
// the pair runs without memory, comparing by size and modification time
// as on a first run.
func openIndex(p config.Pair, stateDir string, dryRun bool, log *slog.Logger) (*index.DB, error) {
	if stateDir == "" {
		return nil, nil
	}
	fi, err := lstatPath(p.Destination)
	if err != nil {
		return nil, nil // nothing to bind to yet (a dry run into a missing folder)
	}
	b := index.Binding{Source: p.Source, Destination: p.Destination}
	if id, ok := sourceIdentity(fi); ok {
		b.DestDev, b.DestIno = id.Dev, id.Ino
	}
	db, err := index.Open(index.Path(stateDir, p.Destination), b, index.Options{Log: log, ReadOnly: dryRun})
	if errors.Is(err, index.ErrLocked) {
		return nil, fmt.Errorf("destination %s: %w; stop that copyd first, or give this pair another destination", p.Destination, err)
	}
	if err != nil {
		log.Error("index not opened; comparing by size and modification time, as on a first run; make state_dir writable",
			"state_dir", stateDir, "err", err)
		return nil, nil
	}
	return db, nil
}
