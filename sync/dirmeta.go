package sync

import (
	"io/fs"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/copyd/copyd/index"
)

// dirMeta is a destination folder whose mode, owner and times are set after
// its contents are complete (writing into a folder changes its mtime).
type dirMeta struct {
	rel     string
	src     fs.FileInfo // the source folder
	dst     fs.FileInfo // the destination folder before this run; nil if created
	changed atomic.Bool // an entry was created, replaced or removed in it
	setgid  bool        // the destination folder has the set-group-ID bit
	opened  bool        // makeDir gave the owner rwx: finishDir must set the mode
	rec     dirRecord   // the index's record of the folder
	// allRecorded: the folder's records were exactly its listing
	// (recordsExact), which lets finishDir record the folder's ctime.
	allRecorded bool
	// holdDeletes: the folder is an empty mount point whose disk is gone
	// (see mountGone); nothing in its copy is deleted, and its record
	// keeps the disk it was on.
	holdDeletes bool
	// unlisted: the pass sets the folder's metadata without listing it
	// (addFolderMeta), so its record keeps a recorded ctime only while
	// the folder is untouched (dirUnchanged).
	unlisted bool
	// kids reads its subfolders' records in batches (see kidRecords); nil
	// where each folder reads its own.
	kids *kidRecords
}

// dirRecord is what the index's record of a folder holds (see
// rememberDir), kept inline for every folder of a pass rather than as a
// whole index.Record.
type dirRecord struct {
	known      bool // the index has a folder record of this path
	dev, ino   uint64
	dstIno     uint64
	dstCtimeNs int64
}

func dirRecordOf(rec *index.Record) dirRecord {
	if rec == nil || rec.Kind != index.Dir {
		return dirRecord{}
	}
	return dirRecord{known: true, dev: rec.Src.Dev, ino: rec.Src.Ino, dstIno: rec.Dst.Ino, dstCtimeNs: rec.Dst.CtimeNs}
}

// record returns the folder record again, nil if there was none.
func (d dirRecord) record() *index.Record {
	if !d.known {
		return nil
	}
	return &index.Record{Kind: index.Dir, Src: index.Source{Dev: d.dev, Ino: d.ino}, Dst: index.Dest{Ino: d.dstIno, CtimeNs: d.dstCtimeNs}}
}

// depth counts the path elements of rel ("" is the root, depth 0).
func (d *dirMeta) depth() int {
	if d.rel == "" {
		return 0
	}
	return strings.Count(d.rel, "/") + 1
}

// finishDirs sets every folder's mode, owner and mtime, deepest first so
// that a parent's mtime is set after its children are final. With fsync it
// makes the folders' entries (creations, renames) durable: one filesystem
// flush at the end where there is one, else one fsync per changed folder,
// never one per file.
func (r *pairRun) finishDirs() {
	dirs := r.dirs
	sort.Slice(dirs, func(i, j int) bool { return dirs[i].depth() > dirs[j].depth() })
	changed := false // an entry was made or removed: flush (a no-op run does not)
	for _, d := range dirs {
		changed = changed || d.dst == nil || d.changed.Load()
		if err := r.finishDir(d); err != nil {
			r.fail("set folder metadata", d.rel, err)
		} else if !d.holdDeletes {
			r.kind.recovered(d.rel, stepFolder)
		}
	}
	if r.pair.Fsync && r.flush != nil && changed {
		if err := r.flush(); err != nil {
			r.fail("fsync", "", err)
		} else {
			r.kind.recovered("", "fsync")
		}
	}
}

// setFolderMeta sets what finishDir found different: mode, then owner
// (chown clears set-id bits, so the mode goes again after it), then mtime.
func (r *pairRun) setFolderMeta(h folderHandle, setMode bool, mode fs.FileMode, setOwner bool, uid, gid int, setTime bool, mtime time.Time) error {
	if setMode {
		if err := h.chmod(mode); err != nil {
			return err
		}
	}
	if setOwner {
		if err := h.chown(uid, gid); err != nil {
			return err
		}
		if mode&(fs.ModeSetgid|fs.ModeSetuid) != 0 {
			if err := h.chmod(mode); err != nil {
				return err
			}
		}
	}
	if setTime {
		return h.chtimes(mtime)
	}
	return nil
}

// folderModeBits are the bits of a folder's mode that its copy gets, as
// rsync -a copies them: permissions, set-user-ID, set-group-ID, sticky.
const folderModeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

func (r *pairRun) finishDir(d *dirMeta) error {
	if d.holdDeletes {
		return nil // the copy of a disk that is not mounted: left as it is
	}
	p := r.dstPath(d.rel)
	mode := d.src.Mode() & folderModeBits
	fresh := d.dst == nil
	touched := fresh || d.opened || d.changed.Load() // the folder's ctime moved in this run
	setMode := fresh || d.opened || d.dst.Mode()&folderModeBits != mode
	uid, gid, setOwner := -1, -1, false
	if r.owner && (fresh || !sameOwner(d.src, d.dst)) {
		uid, gid, setOwner = owner(d.src)
	}
	setTime := fresh || d.changed.Load() || !d.dst.ModTime().Equal(d.src.ModTime())
	if setMode || setOwner || setTime {
		// Through the open folder: one that became a symlink or a file
		// since it was listed is left alone (the error says so).
		h, err := openFolder(p)
		if err != nil {
			return err
		}
		err = r.setFolderMeta(h, setMode, mode, setOwner, uid, gid, setTime, d.src.ModTime())
		if cerr := h.close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		touched = true
	}
	if r.idx != nil && d.rel != "" && !d.holdDeletes {
		dst := d.dst
		if dst == nil {
			dst, _ = lstatPath(p)
		}
		if dst != nil {
			exact := d.allRecorded || d.unlisted && dirUnchanged(d)
			r.rememberDir(d.rel, d.src, dst, d.rec.record(), !touched && exact)
		}
	}
	if r.pair.Fsync && r.flush == nil && (fresh || d.changed.Load()) {
		return syncDir(p)
	}
	return nil
}
