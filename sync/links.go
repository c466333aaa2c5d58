package sync

import (
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxLinkedNames bounds the names a linkIndex keeps (about 200 bytes
// each). Past it, a change written through one name of a file reaches the
// copies of its other names at the next rescan only.
const maxLinkedNames = 100_000

// linkIndex remembers the names of source files that have more than one
// (hard links). inotify reports a write under the name it went through
// only, yet every name of the file now holds the new content; copyd copies
// each name as a file of its own, so the other names' copies must be
// brought in step too. Scans and path jobs note the names they see; one
// that finds a file in a state not seen before hands its other names on.
//
// A state is the file's size, mtime, mode and owner; a write reported by
// the watcher is handed on even when it kept all four (same size, mtime
// put back). It is safe for concurrent use.
type linkIndex struct {
	log   *slog.Logger
	limit int          // maxLinkedNames; smaller in tests
	names atomic.Int64 // len(byName), read without the lock

	mu       sync.Mutex
	files    map[fileID]*linkedFile
	byName   map[string]fileID
	handedTo map[string]bool // names a change was handed on to, until their job runs
	full     bool            // maxLinkedNames reached; logged once
}

// linkedFile is one source file with several names.
type linkedFile struct {
	names []string
	state linkState // the state last handed on to the other names
}

// linkState is what a change to a file alters in every one of its names.
type linkState struct {
	size     int64
	mtime    time.Time
	mode     fs.FileMode
	uid, gid int
}

func stateOf(fi fs.FileInfo) linkState {
	uid, gid, _ := owner(fi)
	return linkState{size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode(), uid: uid, gid: gid}
}

func newLinkIndex(log *slog.Logger) *linkIndex {
	return &linkIndex{log: log, limit: maxLinkedNames, files: make(map[fileID]*linkedFile),
		byName: make(map[string]fileID), handedTo: make(map[string]bool)}
}

// changed records rel as a name of fi and returns the file's other known
// names when their copies need a change made through rel: when the file's
// state differs from the one last handed on, and, for a write (written),
// always, since a rewrite may keep the state (same size, mtime put back).
// A file seen for the first time takes its state as the one handed on.
//
// Each state is handed on once, and a name a write was handed on to does
// not hand it back, so the jobs of the other names end the chain. While no
// name is known, a file with one name costs no lock (scans ask for every
// file).
func (x *linkIndex) changed(rel string, fi fs.FileInfo, written bool) []string {
	id, linked := hardLinked(fi)
	if !linked && x.names.Load() == 0 {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !linked {
		x.forgetLocked(rel)
		return nil
	}
	f := x.addLocked(rel, id, fi)
	if f == nil {
		return nil
	}
	handedTo := x.handedTo[rel]
	delete(x.handedTo, rel)
	now := stateOf(fi)
	if now == f.state && (!written || handedTo) {
		return nil
	}
	f.state = now
	others := make([]string, 0, len(f.names)-1)
	for _, n := range f.names {
		if n != rel {
			others = append(others, n)
			x.handedTo[n] = true
		}
	}
	return others
}

// unseenNames reports whether rel is a name the index did not know before
// now (knew false) of a file with more names than the index knows: a
// hard link made while copyd runs (ln p q), whose other names no event
// or scan has shown it yet.
func (x *linkIndex) unseenNames(rel string, fi fs.FileInfo, knew bool) bool {
	id, linked := hardLinked(fi)
	if knew || !linked {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	f := x.files[id]
	return f != nil && uint64(len(f.names)) < linkCount(fi) && !x.full
}

// knows reports whether rel is a name the index holds.
func (x *linkIndex) knows(rel string) bool {
	if x.names.Load() == 0 {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.byName[rel]
	return ok
}

// forget drops rel, a name that no longer holds a file.
func (x *linkIndex) forget(rel string) {
	if x.names.Load() == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.forgetLocked(rel)
}

// addLocked files rel under id and returns the file; nil when the index
// is full.
func (x *linkIndex) addLocked(rel string, id fileID, fi fs.FileInfo) *linkedFile {
	if old, ok := x.byName[rel]; ok && old != id {
		x.forgetLocked(rel)
	}
	f := x.files[id]
	if _, ok := x.byName[rel]; ok {
		return f
	}
	if len(x.byName) >= x.limit {
		if !x.full {
			x.full = true
			x.log.Info("too many hard-linked names to follow; a change written through one name reaches the copies of the others at the next rescan",
				"names", len(x.byName), "path", rel)
		}
		return f
	}
	if f == nil {
		f = &linkedFile{state: stateOf(fi)}
		x.files[id] = f
	}
	f.names = append(f.names, rel)
	x.byName[rel] = id
	x.names.Add(1)
	return f
}

func (x *linkIndex) forgetLocked(rel string) {
	id, ok := x.byName[rel]
	if !ok {
		return
	}
	delete(x.byName, rel)
	delete(x.handedTo, rel)
	x.names.Add(-1)
	f := x.files[id]
	f.names = slices.DeleteFunc(f.names, func(n string) bool { return n == rel })
	if len(f.names) == 0 {
		delete(x.files, id)
	}
}
