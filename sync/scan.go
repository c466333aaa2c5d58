package sync

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"

	"github.com/copyd/copyd/index"
	"github.com/copyd/copyd/internal/tempname"
)

// dirItem is a source folder waiting to be scanned.
type dirItem struct {
	rel    string        // slash-separated, "" for the root
	src    fs.FileInfo   // the source folder
	dst    fs.FileInfo   // what the destination has under that name; nil if nothing
	parent *dirMeta      // nil for the root
	rec    *index.Record // the index's record of the folder, nil if none
}

// scanDir brings one folder in step: it makes the destination folder,
// queues a copy for every file that differs, pushes the subfolders, removes
// stale temp files and notes extra destination entries for deletion.
func (r *pairRun) scanDir(ctx context.Context, it dirItem, push func(dirItem)) {
	if r.isPaused() {
		return
	}
	entries, err := listDir(r.srcPath(it.rel))
	if err != nil {
		if errIsNotExist(err) {
			r.log.Debug("source folder vanished", "path", it.rel)
			if it.dst != nil && it.dst.IsDir() {
				r.keep(it.rel) // an extra folder now
			}
			return
		}
		r.mu.Lock()
		r.readFailed = true
		r.mu.Unlock()
		r.fail(stepRead, it.rel, err)
		return
	}
	r.kind.recovered(it.rel, stepRead) // "recovered" if reading it failed before
	meta := &dirMeta{rel: it.rel, src: compactFolder(it.src), dst: compactFolder(it.dst), rec: dirRecordOf(it.rec)}
	if !r.makeDir(ctx, it, meta) {
		return
	}
	recs := r.recordsFor(ctx, it)
	batchKids := r.idx != nil && r.kidRecords // see kidRecords
	var dstEntries map[string]entry
	if meta.dst != nil {
		switch {
		case r.trustDest && dirUnchanged(meta):
			dstEntries, err = byName(listRecorded(r.dstPath(it.rel), recs))
		default:
			dstEntries, err = r.readDestDir(it.rel)
		}
		if err != nil {
			r.fail(opReadDestFolder, it.rel, err)
			return
		}
		meta.allRecorded = r.recordsExact(it.rel, dstEntries, recs)
	}
	if !r.dryRun {
		r.mu.Lock()
		r.dirs = append(r.dirs, meta)
		r.mu.Unlock()
	}
	if r.pair.Delete && len(dstEntries) > 0 && r.mountGone(it, entries) {
		meta.holdDeletes = true
	}
	if it.rel == "" && r.pair.Delete && len(dstEntries) > 0 {
		if brake := r.emptyRootBrake(entries); brake != "" {
			r.mu.Lock()
			r.brake = brake
			r.mu.Unlock()
		}
	}
	b := &batch{r: r}
	defer b.flush(ctx)
	for _, e := range entries {
		if ctx.Err() != nil || r.isPaused() {
			return
		}
		name := e.name
		if tempname.Is(name) {
			continue
		}
		rel := relJoin(it.rel, name)
		de, inDst := dstEntries[name]
		if inDst {
			delete(dstEntries, name) // what remains afterwards is extra
		}
		if e.err != nil {
			r.fail("stat", rel, e.err)
			continue
		}
		src := e.info
		if r.excl.Excluded(rel, src.IsDir()) {
			continue // neither copied nor deleted
		}
		if de.err != nil {
			r.fail("stat destination", rel, de.err)
			continue
		}
		dst := de.info
		if dst != nil && dst.IsDir() && !src.IsDir() {
			r.keep(rel) // a folder the source has no more
		}
		var rec *index.Record
		if x, ok := recs[name]; ok {
			rec = &x
		}
		written := src.Mode().IsRegular() && r.written.Has(rel)
		r.kind.met(rel, src, written)
		switch {
		case src.IsDir():
			if batchKids {
				if meta.kids == nil {
					meta.kids = new(kidRecords) // only folders with subfolders: the pass keeps every folder's meta
				}
				meta.kids.add(rel)
			}
			push(dirItem{rel: rel, src: src, dst: dst, parent: meta, rec: rec})
		case src.Mode().IsRegular():
			if written {
				r.queueCopy(ctx, b, rel, src, dst, meta) // as its path job would have
			} else {
				r.planFile(ctx, b, rel, src, dst, rec, meta)
			}
		case src.Mode()&fs.ModeSymlink != 0:
			r.planSymlink(ctx, b, rel, src, dst, meta)
		default:
			r.progress.Special.Add(1)
			r.log.Debug("special file skipped", "path", rel, "mode", src.Mode().String())
		}
	}
	r.noteExtras(it.rel, dstEntries, meta)
}

// Why deletions are held while the source root holds nothing copyd
// copies: an unmounted disk must not wipe its backup, and the folder it
// was mounted on may hold a stray excluded file (an editor's swap file).
const (
	brakeEmptyRoot    = "the source folder is empty but its destination is not"
	brakeExcludedRoot = "the source folder is empty but for excluded entries, and its destination is not"
)

// emptyRootBrake returns why nothing may be deleted when the source root
// lists entries: brakeEmptyRoot or brakeExcludedRoot when it holds
// nothing but temp files and excluded entries, "" otherwise.
func (r *pairRun) emptyRootBrake(entries []entry) string {
	if !r.onlyIgnored("", entries) {
		return ""
	}
	for _, e := range entries {
		if !tempname.Is(e.name) {
			return brakeExcludedRoot
		}
	}
	return brakeEmptyRoot
}

// onlyIgnored reports whether entries, the listing of the source folder
// rel, hold nothing a scan copies: only temp files and excluded entries,
// or nothing. An entry that could not be stat'ed counts as content.
func (r *pairRun) onlyIgnored(rel string, entries []entry) bool {
	for _, e := range entries {
		if tempname.Is(e.name) {
			continue
		}
		if e.info == nil || !r.excl.Excluded(relJoin(rel, e.name), e.info.IsDir()) {
			return false
		}
	}
	return true
}

// addFolderMeta notes the subfolder it, which the destination has as a
// folder, for the metadata pass (finishDirs) without listing it.
func (r *pairRun) addFolderMeta(it dirItem) {
	if r.dryRun {
		return
	}
	meta := &dirMeta{rel: it.rel, src: compactFolder(it.src), dst: compactFolder(it.dst), rec: dirRecordOf(it.rec), unlisted: true}
	r.mu.Lock()
	r.dirs = append(r.dirs, meta)
	r.mu.Unlock()
}

// onOtherDisk reports whether the source folder of it is on another
// device than its record says: a disk mounted on it, or unmounted from it
// (which mountGone tells from its listing).
func onOtherDisk(it dirItem) bool {
	if it.rec == nil || it.rec.Kind != index.Dir {
		return false
	}
	s, ok := sourceIdentity(it.src)
	return ok && s.Dev != it.rec.Src.Dev
}

// dirUnchanged reports whether the destination folder of meta holds the
// very entries its records name: it is the recorded folder (inode) and its
// ctime is the one recorded when its records were exactly its listing
// (recordsExact; any entry made, removed or renamed in it moves its
// ctime). Its files' own
// identities are still checked against their records (judge).
func dirUnchanged(meta *dirMeta) bool {
	if !meta.rec.known || meta.rec.dstCtimeNs == 0 {
		return false
	}
	d, ok := destIdentity(meta.dst)
	return ok && d.Ino == meta.rec.dstIno && d.CtimeNs == meta.rec.dstCtimeNs
}

// recordsExact reports whether the records of the destination folder rel
// are exactly its listing: one record per entry and one entry per record,
// each entry the very one recorded (a file's inode, size, mtime and ctime;
// a folder's inode), and none of them excluded (an excluded entry is not
// looked at by this pass, so its record proves nothing). Only then may a
// later start take the folder's listing from its records (dirUnchanged):
// a stale record — of a file someone removed, or replaced while its path
// was excluded — must not stand for an entry.
func (r *pairRun) recordsExact(rel string, list map[string]entry, recs map[string]index.Record) bool {
	if len(list) != len(recs) {
		return false
	}
	for name, e := range list {
		rec, ok := recs[name]
		if !ok || e.err != nil || e.info == nil || r.excl.Excluded(relJoin(rel, name), e.info.IsDir()) {
			return false
		}
		d, ok := destIdentity(e.info)
		if !ok {
			return false
		}
		switch {
		case rec.Kind == index.File && e.info.Mode().IsRegular():
			if !rec.Dst.Matches(d) || rec.Dst.CtimeNs == 0 {
				return false
			}
		case rec.Kind == index.Dir && e.info.IsDir():
			if rec.Dst.Ino != d.Ino {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// readDestDir lists a destination folder by name.
func (r *pairRun) readDestDir(rel string) (map[string]entry, error) {
	return byName(listDir(r.dstPath(rel)))
}

// byName maps a folder listing by name; a missing folder has no entries.
func byName(list []entry, err error) (map[string]entry, error) {
	if errIsNotExist(err) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m := make(map[string]entry, len(list))
	for _, e := range list {
		m[e.name] = e
	}
	return m, nil
}

// makeDir makes sure the destination of folder it is a real folder (never a
// symlink that would lead writes elsewhere). It reports whether the scan
// can go on below it.
func (r *pairRun) makeDir(ctx context.Context, it dirItem, meta *dirMeta) bool {
	if it.dst != nil && it.dst.IsDir() {
		meta.setgid = it.dst.Mode()&fs.ModeSetgid != 0
		// A read-only folder (copied from a read-only source) refuses new
		// and removed entries to a non-root user: give the owner rwx while
		// copyd works in it; finishDir sets the source's mode again.
		if !r.dryRun && it.dst.Mode().Perm()&0o700 != 0o700 {
			if err := chmodPath(r.dstPath(it.rel), it.dst.Mode()&folderModeBits|0o700); err == nil {
				meta.opened = true
			}
		}
		return true
	}
	if r.dryRun {
		if it.dst == nil {
			if it.rel != "" { // prepareDestRoot listed the root
				r.planLine("mkdir", it.rel)
			}
		} else {
			r.planLine("replace", it.rel, "(with a folder)")
		}
		meta.dst = nil
		return true
	}
	p := r.dstPath(it.rel)
	if it.dst != nil { // a file or symlink stands where the folder belongs
		if !r.retry(ctx, "replace with folder", it.rel, func() error { return r.removeOrArchive(ctx, it.rel) }) {
			return false
		}
	}
	// Owner rwx while copyd fills it; finishDirs sets the real mode.
	if err := mkdirPath(p, it.src.Mode().Perm()|0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		r.failOrPause(opMkdir, it.rel, err)
		return false
	}
	r.log.Debug("folder made", "path", it.rel)
	if it.parent != nil {
		it.parent.changed.Store(true)
	}
	meta.dst = nil
	// A folder inherits the set-group-ID bit (and so its files their
	// group) from its parent: one lstat per folder tells the copies
	// whether they must set their group.
	if fi, err := lstatPath(p); err == nil {
		meta.setgid = fi.Mode()&fs.ModeSetgid != 0
	}
	return true
}

// noteExtras handles destination entries that have no source counterpart:
// stale temp files are removed now, excluded ones are kept, the rest are
// remembered for deletion once the copies are done (delete: true).
func (r *pairRun) noteExtras(dir string, left map[string]entry, meta *dirMeta) {
	for name, e := range left {
		rel := relJoin(dir, name)
		if tempname.Is(name) {
			// Stale unless a copy of this process is writing it or about
			// to rename it (see inFlight): removing that would only make
			// the copy fail and start over.
			if !r.dryRun && !tempInFlight(name) && r.staleTempGone(rel, removePath(r.dstPath(rel))) {
				meta.changed.Store(true)
			}
			continue
		}
		isDir := e.info != nil && e.info.IsDir()
		if r.excl.Excluded(rel, isDir) {
			continue
		}
		if isDir {
			r.keep(rel)
		}
		if !r.pair.Delete || meta.holdDeletes {
			continue
		}
		r.mu.Lock()
		r.extras = append(r.extras, extra{rel: rel, isDir: isDir, in: meta})
		r.mu.Unlock()
	}
}

// keep notes the destination folder rel, which the source lacks or has as
// a file, for sweepKept when this pass sweeps.
func (r *pairRun) keep(rel string) {
	if !r.sweepTemps {
		return
	}
	r.mu.Lock()
	r.kept = append(r.kept, rel)
	r.mu.Unlock()
}

// staleTempGone logs what became of the stale temp file rel, whose removal
// returned err, and reports whether it is gone.
func (r *pairRun) staleTempGone(rel string, err error) bool {
	if err != nil && !errIsNotExist(err) {
		r.log.Warn("stale temp file not removed", "path", rel, "err", err)
		return false
	}
	r.log.Debug("stale temp file removed", "path", rel)
	return true
}

// sweepKept removes the temp files inside extra destination folders (and
// folders where the source now has a file): a crash may leave temps in a
// folder whose source then moved away, and without delete (or with a
// brake holding) no scan looks inside it again.
// They are removed before the folder is archived, too. Scans do this at
// starts only: a folder kept for good would be walked at every rescan.
func (r *pairRun) sweepKept(ctx context.Context) {
	for _, dir := range r.kept {
		err := filepath.WalkDir(r.dstPath(dir), func(p string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil || d.IsDir() || !tempname.Is(d.Name()) {
				return nil // an unreadable folder is skipped; the walk goes on
			}
			rel, _ := filepath.Rel(r.pair.Destination, p)
			r.staleTempGone(filepath.ToSlash(rel), removeFile(p))
			return nil
		})
		if err != nil && ctx.Err() == nil {
			r.log.Warn("stale temp files not looked for", "path", dir, "err", err)
		}
	}
	r.kept = nil
}
