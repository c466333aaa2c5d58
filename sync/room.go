package sync

import (
	"context"
	"errors"
	"github.com/copyd/copyd/sync/settle"
	"github.com/copyd/copyd/sync/workpool"
	"sync/atomic"
	"syscall"

	"github.com/copyd/copyd/internal/tempname"
)

// A pass copies before it deletes, so a destination with room for the
// mirror but not for the old files and the new ones side by side fills up
// and pauses the pair, and a paused pass deletes nothing. When that
// happens to a pair that mirrors deletions, a room pass deletes first
// what the source no longer has (rsync's --delete-before), and the copies
// go on once it has deleted something. Every delete brake holds in it as
// in any pass.

// isFull reports whether err says the destination is out of space or
// quota: deletions can cure that, unlike a read-only destination.
func isFull(err error) bool {
	return errors.Is(err, ErrDestinationFull) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// roomMayHelp reports whether the pair is paused because its destination
// is full while it mirrors deletions: deleting what the source no longer
// has may make the room its copies need.
func (r *pairRun) roomMayHelp() bool {
	err := r.paused.Load()
	return r.pair.Delete && err != nil && isFull(*err)
}

// roomPass returns a pass over r's pair that only deletes. It shares r's
// counters and index but not its pause: its deletions run while the pair
// is paused. q is the queue its deletions go through.
func (r *pairRun) roomPass(q *workpool.Queue) *pairRun {
	return &pairRun{
		pair:     r.pair,
		excl:     r.excl,
		queue:    q,
		log:      r.log,
		progress: r.progress,
		plan:     r.plan,
		planMu:   r.planMu,
		owner:    r.owner,
		started:  r.started,
		idx:      r.idx,
		paused:   new(atomic.Pointer[error]),
		kind:     r.kind,
		live:     r.live,
	}
}

// makeRoom walks both trees and deletes (or archives) what the
// destination has and the source does not, copying nothing; it returns
// how many entries it removed. The brakes of a pass hold: nothing is
// deleted while the source root is empty or unreadable, or once a source
// folder could not be read, nor below a folder that was the mount point
// of another disk and is now empty; excluded paths are kept.
func (r *pairRun) makeRoom(ctx context.Context, scanners int) int64 {
	src, err := lstatPath(r.pair.Source)
	if err != nil || !src.IsDir() {
		return 0
	}
	dst, err := lstatPath(r.pair.Destination)
	if err != nil || !dst.IsDir() {
		return 0
	}
	walk(ctx, scanners, dirItem{src: src, dst: dst}, r.roomDir)
	if ctx.Err() != nil {
		return 0
	}
	if len(r.extras) > 0 && r.brake == "" {
		r.brake = r.kind.rootBrake()
	}
	return r.deleteExtras(ctx)
}

// roomDir notes the extra entries of one destination folder, as scanDir
// does, and pushes the subfolders both sides have.
func (r *pairRun) roomDir(ctx context.Context, it dirItem, push func(dirItem)) {
	entries, err := listDir(r.srcPath(it.rel))
	if errIsNotExist(err) {
		return // gone since its parent was listed: the next pass finds its copy extra
	}
	if err != nil {
		r.mu.Lock()
		r.readFailed = true
		r.mu.Unlock()
		r.log.Warn("read folder failed", "path", it.rel, "err", err)
		return
	}
	dstEntries, err := r.readDestDir(it.rel)
	if err != nil {
		r.log.Warn("read destination folder failed", "path", it.rel, "err", err)
		return // nothing in it can be deleted now; the next pass tries again
	}
	meta := &dirMeta{rel: it.rel, src: compactFolder(it.src)} // src: mountGone reads it as the parent
	if len(dstEntries) > 0 && r.mountGone(it, entries) {
		meta.holdDeletes = true
	}
	if it.rel == "" && len(dstEntries) > 0 {
		if brake := r.emptyRootBrake(entries); brake != "" {
			r.mu.Lock()
			r.brake = brake
			r.mu.Unlock()
		}
	}
	recs := r.records(ctx, it.rel)
	for _, e := range entries {
		if tempname.Is(e.name) {
			continue
		}
		de, inDst := dstEntries[e.name]
		delete(dstEntries, e.name) // a name the source has is never extra
		rel := relJoin(it.rel, e.name)
		if !inDst || e.err != nil || de.err != nil || !e.info.IsDir() || !de.info.IsDir() || r.excl.Excluded(rel, true) {
			continue // only folders on both sides are walked; an entry of another type is replaced by its copy
		}
		sub := dirItem{rel: rel, src: e.info, dst: de.info, parent: meta}
		if rec, ok := recs[e.name]; ok {
			sub.rec = &rec
		}
		push(sub)
	}
	r.noteExtras(it.rel, dstEntries, meta)
}

// roomMade is called once a one-shot pass paused because its destination
// is full (roomMayHelp): it makes room, and reports whether the pair may
// copy again. When it may not, the pair stops with the pause's error.
func (r *pairRun) roomMade(ctx context.Context, scanners int) bool {
	if r.brake != "" || r.readFailed {
		// deleteExtras said why nothing is deleted; the room pass
		// would meet the same brake.
		r.logRefused("err", *r.paused.Load())
		return false
	}
	room := r.roomPass(r.queue)
	n := room.makeRoom(ctx, scanners)
	r.failures = append(r.failures, room.failures...)
	if ctx.Err() != nil {
		return false
	}
	if n == 0 {
		r.logRefused("err", *r.paused.Load())
		return false
	}
	r.log.Info("room made; copying again", "deleted", n)
	return true
}

// again returns a new pass over r's pair, for the copies that a full
// destination refused once roomMade deleted what the source no longer
// has. r's counts are taken back but for what it copied and deleted: the
// new pass counts the rest again (up to date, copied or failed), and not
// as up to date what the passes before it copied (see recopied).
func (r *pairRun) again() *pairRun {
	p := r.progress
	for _, c := range []*Counter{&p.UpToDate, &p.Special, &p.Failed} {
		c.Add(-c.Load())
	}
	p.FilesQueued.Add(p.FilesDone.Load() - p.FilesQueued.Load())
	p.BytesQueued.Add(p.BytesDone.Load() - p.BytesQueued.Load())
	return &pairRun{
		pair:       r.pair,
		excl:       r.excl,
		queue:      r.queue,
		log:        r.log,
		progress:   p,
		dryRun:     r.dryRun,
		plan:       r.plan,
		planMu:     r.planMu,
		owner:      r.owner,
		started:    r.started,
		paused:     new(atomic.Pointer[error]),
		stateDir:   r.stateDir,
		trustDest:  r.trustDest,
		kidRecords: r.kidRecords,
		kind:       r.kind,
		recopied:   p.FilesDone.Load(),
	}
}

// runRounds makes r's pass and, while a pass made room in its full
// destination, another one. It returns the last pass.
func runRounds(ctx context.Context, r *pairRun, scanners int) (*pairRun, error) {
	err := r.run(ctx, scanners)
	for err == nil && r.roomDone {
		r = r.again()
		err = r.run(ctx, scanners)
	}
	return r, err
}

// startRoom runs the daemon's room pass while its pair is paused because
// the destination is full; the loop learns the outcome from roomDeleted
// once the job is done.
func (lp *livePair) startRoom(ctx context.Context) {
	lp.running++
	lp.scanning++
	go func() {
		defer lp.jobDone(roomJob)
		room := lp.base.roomPass(lp.pool.NewQueue(scansQueueFactor * lp.workers))
		room.queue.SkipAfter(ctx) // once stopping, queued deletions wait for the next start
		lp.roomDeleted.Store(room.makeRoom(ctx, scanners(lp.workers, 1)))
	}()
}

// roomJob is the key the room pass's job reports to the loop with.
var roomJob = settle.Work{Kind: settle.Room}
