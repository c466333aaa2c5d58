//go:build linux

package remote

import (
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/copyd/copyd/dest"
	"github.com/copyd/copyd/index"
	"github.com/copyd/copyd/internal/tempname"
	"golang.org/x/sys/unix"
)

// scope is a source folder a pass scans: alone, or with every folder
// below it (deep). Without deep, a subfolder is scanned too when it is
// new or another folder than the one recorded under its name.
type scope struct {
	rel  string
	deep bool
}

// pass is one pass over some folders of a pair.
type pass struct {
	r        *pairRun
	listDest bool // list destination folders and compare them with the records
	// forceDeep names folders to scan whole wherever the pass meets
	// them (folders the watcher saw appear: moved in, or made anew).
	forceDeep map[string]bool
	// roomOnly: a pass that only deletes (makeRoom): no copies, no
	// folders made, no renames, no metadata.
	roomOnly bool
	jobs     chan func()
	walkers  chan struct{} // folder scans at once beyond the first
	walking  sync.WaitGroup

	mu     sync.Mutex
	hold   string          // why deletions are held this pass; "" when they are not
	held   []string        // folders below which nothing is deleted this pass (mountGone)
	safe   map[string]bool // destination folders seen to be folders, not symlinks (folderSafe)
	extras []extra
	dirs   []folder
}

// extra is a destination entry whose source is gone (or excluded-free and
// absent from the source listing).
type extra struct {
	rel   string
	isDir bool
}

// folder is a source folder met by the pass, for the metadata step.
type folder struct {
	rel string
	src index.Source
	rec *index.Record
}

// pass scans scopes, uploads what differs with r.conns uploads at once,
// then deletes extras (delete: true, no brake) and sets folder metadata.
func (r *pairRun) pass(ctx context.Context, scopes []scope, listDest bool, forceDeep ...map[string]bool) {
	r.runPass(ctx, &pass{r: r, listDest: listDest}, scopes, forceDeep...)
}

// stillFull says, once, that the pair stops (sync) or pauses (run)
// because its destination stayed full after deleting what it could, and
// counts the path that did not fit as failed.
func (r *pairRun) stillFull() {
	p := r.paused.Load()
	if p == nil || !r.pair.Delete || !errors.Is(*p, dest.ErrFull) || r.fullSaid {
		return
	}
	r.fullSaid = true
	what := "pair stopped, free space on the destination and run again"
	if r.daemon {
		what = "pair paused, it resumes by itself once the destination takes writes"
		r.status.noteError(r.fullAt[0], r.fullAt[1], *p)
	} else {
		r.record(r.fullAt[0], r.fullAt[1], *p)
	}
	r.log.Error("destination is full, even after deleting what the source no longer has; "+what, "path", r.fullAt[1], "err", *p)
}

// roomWait is how long makeRoom waits for a store to free deleted space.
const roomWait = 2 * time.Second

// makeRoom is what a pair that mirrors deletions does when its
// destination is full: a pass that only deletes what the source no
// longer has (rsync's --delete-before, with every brake), so that the
// copies that did not fit may. It reports whether it removed anything;
// the pair is no longer paused then, and the caller passes again.
func (r *pairRun) makeRoom(ctx context.Context) bool {
	err := r.paused.Load()
	if err == nil || !r.pair.Delete || !errors.Is(*err, dest.ErrFull) || ctx.Err() != nil {
		return false
	}
	r.log.Warn("destination is full; deleting what the source no longer has before copying the rest")
	r.paused.Store(nil)
	before := r.progress.Deleted.Load()
	r.runPass(ctx, &pass{r: r, roomOnly: true}, []scope{{deep: true}})
	freed := r.progress.Deleted.Load() - before
	r.roomFreed += freed
	if freed == 0 && !r.isPaused() && r.roomFreed > 0 && r.roomWaits < 2 {
		// Some stores free space after a deletion returns (MinIO empties
		// its trash in the background): wait, and try the copies again.
		r.roomWaits++
		r.log.Info("waiting for the destination to free the space of the deletions", "in", roomWait)
		select {
		case <-time.After(roomWait):
		case <-ctx.Done():
		}
		return ctx.Err() == nil
	}
	if freed == 0 || r.isPaused() {
		r.paused.CompareAndSwap(nil, err)
		r.stillFull()
		return false
	}
	r.log.Info("made room on the destination; copying the rest", "deleted", freed)
	return true
}

func (r *pairRun) runPass(ctx context.Context, p *pass, scopes []scope, forceDeep ...map[string]bool) {
	p.jobs, p.walkers = make(chan func()), make(chan struct{}, 4)
	if len(forceDeep) > 0 {
		p.forceDeep = forceDeep[0]
	}
	var workers sync.WaitGroup
	for range r.conns {
		workers.Go(func() {
			for job := range p.jobs {
				job()
			}
		})
	}
	r.progress.Scanning.Add(1)
	for _, s := range minimal(scopes) {
		p.walking.Add(1)
		go func() {
			defer p.walking.Done()
			p.scan(ctx, s.rel, s.deep)
		}()
	}
	p.walking.Wait()
	r.progress.Scanning.Add(-1)
	close(p.jobs)
	workers.Wait()
	if ctx.Err() != nil || r.isPaused() {
		return
	}
	p.deleteExtras(ctx)
	if p.roomOnly {
		return
	}
	p.folderMeta(ctx)
	r.intentsDone(ctx)
	if r.idx != nil {
		r.idx.Flush(ctx)
	}
}

// minimal drops the scopes a deep scope above them covers.
func minimal(scopes []scope) []scope {
	var out []scope
	for _, s := range scopes {
		covered := false
		for _, o := range scopes {
			if o.deep && o.rel != s.rel && (o.rel == "" || strings.HasPrefix(s.rel, o.rel+"/")) {
				covered = true
				break
			}
		}
		if !covered && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// walk scans the folder rel in another goroutine when a walker is free,
// else in this one.
func (p *pass) walk(ctx context.Context, rel string, deep bool) {
	select {
	case p.walkers <- struct{}{}:
		p.walking.Add(1)
		go func() {
			defer func() { <-p.walkers; p.walking.Done() }()
			p.scan(ctx, rel, deep)
		}()
	default:
		p.scan(ctx, rel, deep)
	}
}

// holdDeletes stops this pass's deletions, with the reason.
func (p *pass) holdDeletes(why string) {
	p.mu.Lock()
	if p.hold == "" {
		p.hold = why
	}
	p.mu.Unlock()
}

// folderSafe checks, once per pass, that the destination folder rel and
// those above it are folders and not symlinks, before the pass writes or
// deletes in it: an SFTP server resolves every path it is given, so a
// folder swapped for a link on the server would have copyd write, and
// delete, where the link points. A link (or file) standing where a folder
// belongs is removed — the link itself — and the folder made again, its
// records forgotten (replaced is then true: the caller scans it again).
// Backends without symlinks (S3) need no check.
func (p *pass) folderSafe(ctx context.Context, rel string) (ok, replaced bool) {
	r := p.r
	if rel == "" || !r.feat.Symlinks || !r.feat.Folders {
		return true, false
	}
	p.mu.Lock()
	known := p.safe[rel]
	p.mu.Unlock()
	if known {
		return true, false
	}
	if ok, replaced := p.folderSafe(ctx, parentOf(rel)); !ok || replaced {
		return ok, replaced
	}
	e, err := r.dst.Stat(ctx, rel)
	switch {
	case errors.Is(err, dest.ErrNotExist) || err == nil && e.Kind == dest.Dir:
	case err != nil:
		r.do(ctx, "check destination folder", rel, func() error { return err })
		return false, false
	default:
		r.log.Warn("the destination has a "+e.Kind.String()+" where this folder belongs; replacing it (copyd never writes through a link)", "path", rel)
		if !r.do(ctx, "replace with a folder", rel, func() error { return ignoreNotExist(r.dst.Remove(ctx, rel)) }) {
			return false, false
		}
		r.forget(rel)
		replaced = true
	}
	p.mu.Lock()
	if p.safe == nil {
		p.safe = map[string]bool{}
	}
	p.safe[rel] = true
	p.mu.Unlock()
	return true, replaced
}

// holdBelow keeps this pass's deletions out of the folder rel.
func (p *pass) holdBelow(rel string) {
	p.mu.Lock()
	p.held = append(p.held, rel)
	p.mu.Unlock()
}

// isHeld reports whether rel is in a folder holdBelow named.
func (p *pass) isHeld(rel string) bool {
	for _, h := range p.held {
		if strings.HasPrefix(rel, h+"/") {
			return true
		}
	}
	return false
}

// holdsAny reports whether the source folder rel has an entry that counts:
// not a temp file, not excluded.
func holdsAny(r *pairRun, rel string, entries []srcEntry) bool {
	for i := range entries {
		e := &entries[i]
		if !tempname.Is(e.name) && !r.excl.Excluded(relJoin(rel, e.name), e.isDir()) {
			return true
		}
	}
	return false
}

// mountGone reports whether the source folder rel, empty now, was the
// mount point of another disk when it was recorded: it is on its
// parent's device now, and was not. Its backup must not go because the
// disk is unmounted (the local engine's rule, sync/memory.go).
func (r *pairRun) mountGone(ctx context.Context, rel string) bool {
	if r.idx == nil {
		return false
	}
	rec, ok := r.idx.Get(ctx, rel)
	if !ok || rec.Kind != index.Dir {
		return false
	}
	cur, err1 := lstatSource(r.srcPath(rel))
	parent, err2 := lstatSource(r.srcPath(parentOf(rel)))
	if err1 != nil || err2 != nil || uint64(cur.Dev) == rec.Src.Dev || cur.Dev != parent.Dev {
		return false
	}
	r.log.Error("deleting nothing in this folder: it was a mount point of another disk and is now empty; is the disk mounted? copyd deletes again once its files are back (to confirm the disk is gone for good, remove the folder from the source)",
		"path", rel)
	return true
}

// scan brings one source folder in step: it queues uploads for what
// differs, makes subfolders (and scans them), and notes extras.
func (p *pass) scan(ctx context.Context, rel string, deep bool) {
	r := p.r
	if ctx.Err() != nil || r.isPaused() {
		return
	}
	entries, err := listSource(r.srcPath(rel))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && rel != "" {
			return // gone (or now a symlink): its parent's scan finds out
		}
		p.holdDeletes("a source folder could not be read")
		r.fail("read source folder", rel, err)
		return
	}
	recs := r.records(ctx, rel)
	var listed map[string]dest.Entry
	if p.listDest {
		es, err := r.dst.List(ctx, rel)
		if err != nil && !errors.Is(err, dest.ErrNotExist) {
			p.holdDeletes("a destination folder could not be listed")
			r.do(ctx, "list destination folder", rel, func() error { return err })
			return
		}
		listed = make(map[string]dest.Entry, len(es))
		for _, e := range es {
			listed[e.Name] = e
		}
	}
	if (len(recs) > 0 || len(listed) > 0) && !holdsAny(r, rel, entries) {
		switch {
		case rel == "":
			p.holdDeletes("the source folder is empty (or holds only excluded entries) but its destination is not")
		case r.mountGone(ctx, rel):
			p.holdBelow(rel)
		}
	}
	// Before the first write in this folder: is it a folder on the server?
	checked, safe := false, true
	writable := func() bool {
		if !checked && !p.listDest { // a listing showed the kinds already (ensureFolder)
			checked = true
			var replaced bool
			if safe, replaced = p.folderSafe(ctx, rel); replaced {
				safe = false
				p.walk(ctx, rel, true) // again, with its records forgotten
			}
		}
		return safe
	}
	seen := make(map[string]bool, len(entries))
	var present, claimed map[string]bool // for renames (moves.go)
	if len(recs) > 0 && r.movable() && !p.roomOnly {
		present, claimed = make(map[string]bool, len(entries)), map[string]bool{}
		for i := range entries {
			present[entries[i].name] = true
		}
	}
	for i := range entries {
		if ctx.Err() != nil || r.isPaused() {
			return
		}
		e := &entries[i]
		if tempname.Is(e.name) {
			continue
		}
		crel := relJoin(rel, e.name)
		seen[e.name] = true
		if r.excl.Excluded(crel, e.isDir()) {
			continue // neither copied nor deleted
		}
		if e.err != nil {
			r.fail("stat", crel, e.err)
			continue
		}
		var rec *index.Record
		if x, ok := recs[e.name]; ok {
			rec = &x
		}
		de, inDst := listed[e.name]
		moved := false
		if rec == nil && present != nil && (e.isDir() || e.isFile()) && (r.writing == nil || !r.writing(crel, ctimeOf(&e.st))) && writable() {
			if from, old, ok := renamedFrom(e, recs, present, claimed); ok {
				claimed[from] = true
				fromRel := relJoin(rel, from)
				if e.isDir() && r.sameFolder(ctx, crel, fromRel) && p.moveFolder(ctx, fromRel, crel) || e.isFile() && p.moveFile(ctx, fromRel, crel, e, old) {
					seen[from], moved = true, true
					rec = &old
					if p.listDest && e.isDir() {
						// The listing was taken before the move: the folder
						// is on the server now (ensureFolder makes none).
						de, inDst = dest.Entry{Name: e.name, Kind: dest.Dir}, true
					}
				}
			}
		}
		switch {
		case p.roomOnly:
			if e.isDir() && (rec == nil || rec.Kind == index.Dir) {
				p.walk(ctx, crel, true)
			}
		case e.isFile() && moved:
			r.progress.UpToDate.Add(1)
		case e.isDir():
			if !p.ensureFolder(ctx, crel, e, rec, de, inDst, writable) {
				continue
			}
			if deep || moved || p.forceDeep[crel] || rec == nil || rec.Kind != index.Dir || rec.Src.Ino != e.st.Ino || rec.Src.Dev != uint64(e.st.Dev) {
				p.walk(ctx, crel, true)
			}
		case e.isFile():
			if (rec != nil && rec.Kind == index.Dir) || (inDst && de.Kind == dest.Dir) {
				if !writable() || !p.replaceFolder(ctx, crel) {
					continue
				}
				rec = nil
			}
			if r.writing != nil && r.writing(crel, ctimeOf(&e.st)) {
				r.log.Debug("waiting for the writer to close the file", "path", crel)
				r.scanAgain(rel)
				continue
			}
			if p.fileUpToDate(ctx, crel, e, rec, de, inDst) {
				r.progress.UpToDate.Add(1)
				continue
			}
			if !writable() {
				continue
			}
			r.progress.FilesQueued.Add(1)
			r.progress.BytesQueued.Add(e.st.Size)
			st := e.st
			p.queue(ctx, func() { r.do(ctx, "copy", crel, func() error { return r.putFile(ctx, crel, &st) }) })
		case e.isSymlink():
			if !writable() {
				continue
			}
			if (rec != nil && rec.Kind == index.Dir) || (inDst && de.Kind == dest.Dir) {
				if !p.replaceFolder(ctx, crel) {
					continue
				}
				rec = nil
			}
			st := e.st
			p.queue(ctx, func() { p.symlink(ctx, crel, &st, rec, de, inDst) })
		default:
			r.progress.Special.Add(1)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, rec := range recs {
		if seen[name] {
			continue
		}
		seen[name] = true
		if r.excl.Excluded(relJoin(rel, name), rec.Kind == index.Dir) {
			continue // neither copied nor deleted, even once gone from the source
		}
		p.extras = append(p.extras, extra{rel: relJoin(rel, name), isDir: rec.Kind == index.Dir})
	}
	for name, de := range listed {
		if seen[name] {
			continue
		}
		if tempname.Is(name) && de.Kind == dest.File {
			// A temp file of an upload a crash or a lost connection cut
			// short: never a name anyone reads, so it goes at once.
			if err := r.dst.Remove(ctx, relJoin(rel, name)); err == nil {
				r.log.Debug("stale temp file removed", "path", relJoin(rel, name))
			}
			continue
		}
		if r.excl.Excluded(relJoin(rel, name), de.Kind == dest.Dir) {
			continue
		}
		p.extras = append(p.extras, extra{rel: relJoin(rel, name), isDir: de.Kind == dest.Dir})
	}
}

// queue hands job to an upload worker; it waits for a free one.
func (p *pass) queue(ctx context.Context, job func()) {
	select {
	case p.jobs <- job:
	case <-ctx.Done():
	}
}

// destHoldsRecords checks a sample of the index's file records against
// the destination (a Stat each, up to sampleRecords from the first
// folders): a bucket emptied or made again, or another server folder, is
// found before a pass trusts the index and does nothing.
func (r *pairRun) destHoldsRecords(ctx context.Context) bool {
	if r.idx == nil {
		return true
	}
	// Depth first, so that a tree of folders (Photos/2024/05/...) reaches
	// its files before the folder budget runs out.
	folders, checked, visited := []string{""}, 0, 0
	for len(folders) > 0 && checked < sampleRecords && visited < 256 {
		rel := folders[len(folders)-1]
		folders = folders[:len(folders)-1]
		visited++
		for name, rec := range r.idx.Dir(ctx, rel) {
			crel := relJoin(rel, name)
			switch rec.Kind {
			case index.Dir:
				folders = append(folders, crel)
			case index.File:
				if checked >= sampleRecords {
					continue
				}
				checked++
				e, err := r.dst.Stat(ctx, crel)
				switch {
				case errors.Is(err, dest.ErrNotExist), err == nil && (e.Kind != dest.File || e.Size != rec.Dst.Size):
					r.log.Warn("the destination does not hold what the index records; comparing both in full", "path", crel)
					return false
				case err != nil:
					return true // the pass meets the same error and says so
				}
			}
		}
	}
	return true
}

// sampleRecords is how many records destHoldsRecords checks.
const sampleRecords = 8

// records returns the index's records of the folder rel.
func (r *pairRun) records(ctx context.Context, rel string) map[string]index.Record {
	if r.idx == nil {
		return nil
	}
	return r.idx.Dir(ctx, rel)
}

// sameTime reports whether t and the Unix nanoseconds ns are one time to
// the destination's precision.
func (r *pairRun) sameTime(t time.Time, ns int64) bool {
	prec := r.feat.MtimePrecision
	if prec <= 0 {
		prec = time.Nanosecond
	}
	return t.Truncate(prec).Equal(time.Unix(0, ns).Truncate(prec))
}

// fileUpToDate is the quick check with memory. With a record, the file is
// up to date only when its source identity is the recorded one (and, when
// the destination was listed, the entry there is the one recorded); a
// racy record is confirmed by hashing the source. Without one, on a first
// run, an entry of the same size and mtime is taken as rsync takes it
// (checksum: true compares hashes instead) and recorded.
func (p *pass) fileUpToDate(ctx context.Context, rel string, e *srcEntry, rec *index.Record, de dest.Entry, inDst bool) bool {
	r := p.r
	src := identity(&e.st, "")
	if rec != nil {
		if rec.Kind != index.File || rec.Src != src {
			return false
		}
		if p.listDest && !(inDst && de.Kind == dest.File && de.Size == rec.Dst.Size && r.sameTime(de.ModTime, rec.Dst.MtimeNs) &&
			(de.Hash == "" || len(rec.Hash) == 0 || de.Hash == hex.EncodeToString(rec.Hash))) {
			return false
		}
		if !rec.Racy {
			return true
		}
		sum, st, err := hashSource(r.srcPath(rel))
		if err != nil || len(rec.Hash) == 0 || hex.EncodeToString(sum) != hex.EncodeToString(rec.Hash) || identity(&st, "") != src {
			return false
		}
		fresh := *rec
		fresh.Racy = racy(src.CtimeNs)
		r.put(rel, fresh)
		return true
	}
	if !p.listDest || !inDst || de.Kind != dest.File || de.Size != e.st.Size {
		return false
	}
	var sum []byte
	if r.pair.Checksum {
		if de.Hash == "" {
			return false
		}
		h, st, err := hashSource(r.srcPath(rel))
		if err != nil || hex.EncodeToString(h) != de.Hash || identity(&st, "") != src {
			return false
		}
		sum = h
	} else if !r.sameTime(de.ModTime, r.keepable(time.Unix(0, src.MtimeNs)).UnixNano()) {
		return false
	} else if de.Hash != "" {
		sum, _ = hex.DecodeString(de.Hash)
	} else if racy(src.CtimeNs) {
		// A racy record needs a hash to be confirmed by; take it now,
		// while the file is likely in the page cache.
		if h, st, err := hashSource(r.srcPath(rel)); err == nil && identity(&st, "") == src {
			sum = h
		}
	}
	r.put(rel, index.Record{Kind: index.File, Racy: racy(src.CtimeNs), Src: src,
		Dst: index.Dest{Size: de.Size, MtimeNs: de.ModTime.UnixNano()}, Hash: sum, CopiedNs: time.Now().UnixNano()})
	return true
}

// ensureFolder makes the destination folder rel unless the record or the
// listing shows it there; a file or symlink standing in its place goes
// first (the source has a folder under that name now).
func (p *pass) ensureFolder(ctx context.Context, rel string, e *srcEntry, rec *index.Record, de dest.Entry, inDst bool, writable func() bool) bool {
	r := p.r
	p.mu.Lock()
	p.dirs = append(p.dirs, folder{rel: rel, src: identity(&e.st, ""), rec: rec})
	p.mu.Unlock()
	switch {
	case p.listDest && inDst && de.Kind == dest.Dir:
		return true
	case !p.listDest && rec != nil && rec.Kind == index.Dir:
		return true
	case !writable():
		return false
	case inDst || rec != nil:
		ok := r.do(ctx, "replace with a folder", rel, func() error {
			if err := r.dst.Remove(ctx, rel); err != nil && !errors.Is(err, dest.ErrNotExist) {
				return err
			}
			return nil
		})
		if !ok {
			return false
		}
		r.forget(rel)
	}
	return r.do(ctx, "mkdir", rel, func() error { return r.dst.Mkdir(ctx, rel, r.meta(&e.st)) })
}

// replaceFolder makes room for a file or symlink where the destination
// has a folder: with delete: true the folder goes; else rel fails with
// what to do.
func (p *pass) replaceFolder(ctx context.Context, rel string) bool {
	r := p.r
	if !r.pair.Delete {
		r.fail("copy", rel, errors.New("the destination has a folder under this name and the source a file; remove that folder, or set delete: true"))
		return false
	}
	if !r.removeTree(ctx, rel) {
		return false
	}
	r.forget(rel)
	return true
}

// symlink makes rel a symlink like the source's, unless the record (or
// the listing) shows it is one already.
func (p *pass) symlink(ctx context.Context, rel string, st *unix.Stat_t, rec *index.Record, de dest.Entry, inDst bool) {
	r := p.r
	target, err := readlinkSource(r.srcPath(rel))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.fail("readlink", rel, err)
		}
		return
	}
	src := identity(st, target)
	switch {
	case rec != nil && rec.Kind == index.Symlink && rec.Src == src && (!p.listDest || inDst && de.Kind == dest.Symlink && de.Target == target):
		r.progress.UpToDate.Add(1)
		return
	case rec == nil && p.listDest && inDst && de.Kind == dest.Symlink && de.Target == target:
		r.put(rel, index.Record{Kind: index.Symlink, Src: src, CopiedNs: time.Now().UnixNano()})
		r.progress.UpToDate.Add(1)
		return
	}
	if r.do(ctx, "link", rel, func() error { return r.dst.Symlink(ctx, rel, target, r.meta(st)) }) {
		r.put(rel, index.Record{Kind: index.Symlink, Src: src, CopiedNs: time.Now().UnixNano()})
		r.progress.FilesDone.Add(1)
	}
}

// deleteExtras removes what the source no longer has (delete: true),
// deepest first, unless a brake holds deletions this pass.
func (p *pass) deleteExtras(ctx context.Context) {
	r := p.r
	if len(p.extras) == 0 {
		return
	}
	if !r.pair.Delete {
		return
	}
	if p.hold != "" {
		r.log.Warn("deletions held this pass: "+p.hold+"; nothing is deleted until a pass reads the whole source again",
			"extras", len(p.extras))
		return
	}
	slices.SortFunc(p.extras, func(a, b extra) int { return strings.Count(b.rel, "/") - strings.Count(a.rel, "/") })
	for _, x := range p.extras {
		if ctx.Err() != nil || r.isPaused() {
			return
		}
		if p.isHeld(x.rel) {
			continue
		}
		if ok, replaced := p.folderSafe(ctx, parentOf(x.rel)); !ok || replaced {
			continue // nothing of the source's is there to delete
		}
		if x.isDir {
			r.removeTree(ctx, x.rel)
		} else if r.do(ctx, "delete", x.rel, func() error { return ignoreNotExist(r.dst.Remove(ctx, x.rel)) }) {
			r.progress.Deleted.Add(1)
		}
		r.forget(x.rel)
	}
}

// removeTree removes the destination folder rel and what it holds, except
// excluded entries (kept with the folders above them).
func (r *pairRun) removeTree(ctx context.Context, rel string) bool {
	if r.feat.Symlinks && rel != "" {
		// A listing would follow a link standing where the folder was:
		// remove the link itself, never what it leads to.
		e, err := r.dst.Stat(ctx, rel)
		if errors.Is(err, dest.ErrNotExist) {
			return true
		}
		if err == nil && e.Kind != dest.Dir {
			if r.do(ctx, "delete", rel, func() error { return ignoreNotExist(r.dst.Remove(ctx, rel)) }) {
				r.progress.Deleted.Add(1)
				return true
			}
			return false
		}
	}
	var es []dest.Entry
	if !r.do(ctx, "list destination folder", rel, func() error {
		var err error
		es, err = r.dst.List(ctx, rel)
		return ignoreNotExist(err)
	}) {
		return false
	}
	kept := false
	for _, e := range es {
		crel := relJoin(rel, e.Name)
		if r.excl.Excluded(crel, e.Kind == dest.Dir) {
			kept = true
			continue
		}
		if e.Kind == dest.Dir {
			if !r.removeTree(ctx, crel) {
				kept = true
			}
		} else if r.do(ctx, "delete", crel, func() error { return ignoreNotExist(r.dst.Remove(ctx, crel)) }) {
			r.progress.Deleted.Add(1)
		} else {
			kept = true
		}
	}
	if kept {
		return false
	}
	if !r.do(ctx, "delete", rel, func() error { return ignoreNotExist(r.dst.Remove(ctx, rel)) }) {
		return false
	}
	r.progress.Deleted.Add(1)
	return true
}

// folderMeta sets mode and mtime on the folders whose source changed
// since their record (children are written first: that moves a folder's
// mtime), deepest first, and records them.
func (p *pass) folderMeta(ctx context.Context) {
	r := p.r
	slices.SortFunc(p.dirs, func(a, b folder) int { return strings.Count(b.rel, "/") - strings.Count(a.rel, "/") })
	for _, d := range p.dirs {
		if ctx.Err() != nil || r.isPaused() {
			return
		}
		if d.rec != nil && d.rec.Kind == index.Dir && d.rec.Src == d.src && !p.listDest {
			continue
		}
		if ok, replaced := p.folderSafe(ctx, d.rel); !ok || replaced {
			continue // SFTP's setstat would follow a link
		}
		if r.feat.Folders {
			m := dest.NoOwner(dest.FileMode(d.src.Mode), r.keepable(time.Unix(0, d.src.MtimeNs)))
			if r.owner {
				m.UID, m.GID = int(d.src.UID), int(d.src.GID)
			}
			if !r.do(ctx, "attrs", d.rel, func() error { return r.dst.SetMeta(ctx, d.rel, m) }) {
				continue
			}
		}
		r.put(d.rel, index.Record{Kind: index.Dir, Src: d.src, CopiedNs: time.Now().UnixNano()})
	}
}

func ignoreNotExist(err error) error {
	if errors.Is(err, dest.ErrNotExist) {
		return nil
	}
	return err
}

// put and forget write the index, when there is one.
func (r *pairRun) put(rel string, rec index.Record) {
	if r.idx != nil {
		r.idx.Put(rel, rec)
	}
}

func (r *pairRun) forget(rel string) {
	if r.idx != nil {
		r.idx.Delete(rel)
	}
}
