package settle

import (
	"container/list"
	"path"
	"strings"
	"sync"
	"time"
)

// Kind says what a settled path needs.
type Kind uint8

const (
	// Path: look at the path as it is now and bring its destination in
	// step: copy a file or symlink, make a folder and its metadata, or
	// delete what the source no longer has.
	Path Kind = iota
	// Folder: compare the entries of one folder (no deeper, except
	// into subfolders the destination lacks) and set the metadata of its
	// subfolders. Many pending paths in one folder roll up into this,
	// which must then do what their path jobs would have done: see
	// rollUp.
	Folder
	// Tree: scan the folder and everything below it (a folder created
	// or moved in, lost events).
	Tree
	// Room: the deletions that make room in a full destination
	// (room.go). Never queued: it only names the room pass's job.
	Room
)

// Work is a unit of work handed out by a Queue.
type Work struct {
	Rel     string
	Kind    Kind
	Written bool          // Path: the content was written, so copy even if size and mtime match
	Writes  *WrittenFiles // Folder: the files in it to copy as written ones; nil: none
	First   time.Time     // the first event of this work (zero for work not caused by events)
}

// Key identifies the work regardless of how it was triggered.
func (s Work) Key() Work { return Work{Rel: s.Rel, Kind: s.Kind} }

// pendingPath is one entry of a Queue.
type pendingPath struct {
	rel         string
	kind        Kind
	written     bool
	open        bool          // a writer wrote it and has not closed it (WriterOpen)
	writes      *WrittenFiles // Folder: the written files it took over
	first, last time.Time
	byFirst     *list.Element
	byLast      *list.Element
}

// Writer is what an event says of a file's Writer.
type Writer uint8

const (
	NoWriter   Writer = iota // nothing
	Writing                  // it wrote and has not closed the file yet
	WriterDone               // it closed the file, or the name went away
)

// WrittenFiles are the files of a rolled-up folder whose content was
// written, each with the time of its last write. The roll-up replaced
// their Written events, so the folder's scan copies them even where size
// and mtime match, as their own path jobs would have (a rewrite that put
// both back: tar -x, cp -p). A nil *WrittenFiles holds none.
type WrittenFiles struct{ at map[string]time.Time }

// Add notes a write of rel at t.
func (w *WrittenFiles) Add(rel string, t time.Time) {
	if w.at == nil {
		w.at = make(map[string]time.Time)
	}
	w.at[rel] = t
}

// Has reports whether rel was written.
func (w *WrittenFiles) Has(rel string) bool {
	if w == nil {
		return false
	}
	_, ok := w.at[rel]
	return ok
}

// maxDueSlack bounds how early Due hands out an entry that falls due just
// after another.
const maxDueSlack = 10 * time.Millisecond

// rollupLimit is how many pending paths one folder may hold before they
// become one folder scan: past it a scan lists the folder once instead of
// handling each path alone. The names of written files stay with the scan
// (WrittenFiles), so memory still grows with those.
const rollupLimit = 256

// Queue holds the pending work of one pair, keyed by path, until it
// settles: a path is due settle after its last event, and at the latest
// maxDelay after its first. A file written by a writer that has not
// closed it (WriterOpen) and that probe says is still open for writing
// is due when the writer closes it (and settle has passed), or at
// maxDelay: then its copy is a snapshot, and the close brings it again. Memory grows with distinct pending paths, not
// with events. Add never blocks on the consumer, so the watcher that feeds
// it never stalls; it is safe for concurrent use.
type Queue struct {
	settle, maxDelay time.Duration
	wake             chan struct{} // cap 1: the earliest due time may have changed

	mu      sync.Mutex
	items   map[string]*pendingPath
	byFirst list.List                          // by first event, oldest in front
	byLast  list.List                          // by last event, oldest in front
	perDir  map[string]map[string]*pendingPath // pending Path entries per parent folder
	full    bool                               // a rescan of the whole tree was asked for

	// Probe reports whether some process has the file rel open for
	// writing; nil holds nothing. Due calls it, with mu held, for written
	// files whose writer has not closed them yet once they settle.
	Probe func(rel string) bool
}

func New(settle, maxDelay time.Duration) *Queue {
	return &Queue{
		settle:   settle,
		maxDelay: max(maxDelay, settle),
		wake:     make(chan struct{}, 1),
		items:    make(map[string]*pendingPath),
		perDir:   make(map[string]map[string]*pendingPath),
	}
}

// Wake returns a channel that receives when new work may be due earlier
// than the consumer last computed.
func (q *Queue) Wake() <-chan struct{} { return q.wake }

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Add records an event for rel. Work on a folder absorbs the events of the
// paths it covers; a folder with more than rollupLimit pending paths rolls
// them up into one folder scan.
func (q *Queue) Add(rel string, kind Kind) {
	q.addAt(rel, kind, false, time.Now())
}

// AddWritten records that the content of the file rel was written.
func (q *Queue) AddWritten(rel string) {
	q.addAt(rel, Path, true, time.Now())
}

// WriterOpen records that a writer wrote to the file rel and has not
// closed it yet: rel waits for WriterClosed (or maxDelay).
func (q *Queue) WriterOpen(rel string) {
	q.addWriter(rel, Path, true, Writing, time.Now())
}

// MaybeOpen records that the name rel appeared (created, renamed, moved
// in, linked): the file may be one a writer still has open (a log rotated
// by a rename, an upload moved in, a file made with O_TMPFILE and linked,
// whose writes make no events under its name), so probe decides once it
// settles.
func (q *Queue) MaybeOpen(rel string) {
	q.addWriter(rel, Path, false, Writing, time.Now())
}

// WriterClosed records that a writer closed the file rel (or that the
// name went away, which ends any wait for its writer).
func (q *Queue) WriterClosed(rel string) {
	q.addWriter(rel, Path, false, WriterDone, time.Now())
}

func (q *Queue) addAt(rel string, kind Kind, written bool, now time.Time) {
	q.addWriter(rel, kind, written, NoWriter, now)
}

func (q *Queue) addWriter(rel string, kind Kind, written bool, wr Writer, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.full {
		return // the whole tree is rescanned anyway
	}
	if it := q.coveredBy(rel, kind); it != nil {
		if written && it.kind == Folder {
			it.noteWrite(rel, now)
		}
		q.touch(it, now)
		return
	}
	if it, ok := q.items[rel]; ok {
		if kind > it.kind {
			q.setKind(it, kind)
		}
		it.written = it.written || written
		if wr != NoWriter {
			it.open = wr == Writing
		}
		q.touch(it, now)
		return
	}
	if kind == Tree {
		q.dropBelow(rel)
	}
	dir := Parent(rel)
	if kind == Path && rel != "" && len(q.perDir[dir]) >= rollupLimit {
		q.rollUp(dir, rel, written, now)
		return
	}
	q.insert(&pendingPath{rel: rel, kind: kind, written: written, open: wr == Writing, first: now, last: now})
	q.signal()
}

// Copied records that a copy of rel which started at start has succeeded:
// a pending write of rel that was reported before then is in that copy
// (the kernel reports a write once it is done), so the path needs only the
// quick check, not another forced copy. This spares the second copy of a
// file written while the first full pass ran.
func (q *Queue) Copied(rel string, start time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if it, ok := q.items[rel]; ok && it.kind == Path && it.last.Before(start) {
		it.written = false
	}
	if it, ok := q.items[Parent(rel)]; ok && it.kind == Folder && it.writes != nil {
		if at, ok := it.writes.at[rel]; ok && at.Before(start) {
			delete(it.writes.at, rel)
		}
	}
}

// RescanAll asks for a scan of the whole tree: every pending entry is
// dropped in favour of it.
func (q *Queue) RescanAll() {
	q.mu.Lock()
	q.full = true
	q.clear()
	q.mu.Unlock()
	q.signal()
}

// Retry schedules rel again after d (a failed attempt's back-off).
func (q *Queue) Retry(rel string, kind Kind, d time.Duration) {
	time.AfterFunc(d, func() { q.Add(rel, kind) })
}

// Due removes and returns the work that is due at now, and the time the
// next entry falls due (zero when nothing is pending). full reports a
// requested rescan of the whole tree.
//
// Entries due within a moment after now come along: the two halves of a
// rename settle microseconds apart and are best handled together.
func (q *Queue) Due(now time.Time) (work []Work, full bool, next time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now = now.Add(min(q.settle/10, maxDueSlack))
	full, q.full = q.full, false
	for {
		var it *pendingPath
		if e := q.byLast.Front(); e != nil && !now.Before(e.Value.(*pendingPath).last.Add(q.settle)) {
			it = e.Value.(*pendingPath)
			if it.open && it.kind == Path && q.Probe != nil && now.Before(it.first.Add(q.maxDelay)) {
				holds, same := q.probeUnlocked(it)
				switch {
				case !same:
					// changed while the lock was out: look again
				case holds:
					q.touch(it, now) // still being written: ask again in a settle
				default:
					it.open = false // nobody writes it any more (closed unseen, truncate(2), replaced)
				}
				continue
			}
		} else if e := q.byFirst.Front(); e != nil && !now.Before(e.Value.(*pendingPath).first.Add(q.maxDelay)) {
			it = e.Value.(*pendingPath)
		}
		if it == nil {
			break
		}
		q.remove(it)
		if it.open && it.kind == Path && q.Probe != nil {
			if holds, _ := q.probeUnlocked(it); holds && !q.full {
				// max_delay is up and the writer still has it open: this
				// copy is a snapshot; keep asking, so the version its
				// writer leaves is copied too, even without a close event.
				if again, ok := q.items[it.rel]; ok {
					again.open = again.open || again.kind == Path // an event came meanwhile
				} else {
					q.insert(&pendingPath{rel: it.rel, kind: Path, open: true, first: now, last: now})
				}
			}
		}
		work = append(work, Work{Rel: it.rel, Kind: it.kind, Written: it.written && it.kind == Path, Writes: it.writes, First: it.first})
	}
	if e := q.byLast.Front(); e != nil {
		next = e.Value.(*pendingPath).last.Add(q.settle)
	}
	if e := q.byFirst.Front(); e != nil {
		if d := e.Value.(*pendingPath).first.Add(q.maxDelay); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	return work, full, next
}

// probeUnlocked asks probe whether it's file is open for writing with
// q.mu let go meanwhile (the probe opens the file: the watcher's Add must
// not wait for that). same reports whether it is still the entry pending
// for its path, unchanged in kind and writer state; q.mu is held again on
// return.
func (q *Queue) probeUnlocked(it *pendingPath) (holds, same bool) {
	rel, kind, open, last := it.rel, it.kind, it.open, it.last
	q.mu.Unlock()
	holds = q.Probe(rel)
	q.mu.Lock()
	now, ok := q.items[rel]
	return holds, ok && now == it && it.kind == kind && it.open == open && it.last.Equal(last)
}

// Len returns the number of pending entries.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// coveredBy returns the pending folder work that already covers rel: a
// tree scan of an ancestor, or a folder scan of its parent.
func (q *Queue) coveredBy(rel string, kind Kind) *pendingPath {
	if rel == "" {
		return nil
	}
	dir := Parent(rel)
	if it, ok := q.items[dir]; ok && it.kind >= Folder && (it.kind == Tree || kind == Path) {
		return it
	}
	for dir != "" {
		dir = Parent(dir)
		if it, ok := q.items[dir]; ok && it.kind == Tree {
			return it
		}
	}
	return nil
}

// touch notes a new event on it: it settles again from now.
func (q *Queue) touch(it *pendingPath, now time.Time) {
	it.last = now
	q.byLast.MoveToBack(it.byLast)
}

// setKind widens an entry's work (a path that turned out to be a folder).
func (q *Queue) setKind(it *pendingPath, kind Kind) {
	if it.kind == Path {
		q.unindex(it)
	}
	it.kind = kind
	if kind == Tree {
		q.dropBelow(it.rel)
	}
}

// rollUp replaces the pending paths of dir, and the event on rel (written:
// its content) that is one too many, by one folder scan. The scan stands
// for their path jobs and must leave nothing of theirs undone: it sets
// the metadata of the subfolders the destination has (their Attrib
// events), not only of the files, and copies the written files as
// written ones (see WrittenFiles).
func (q *Queue) rollUp(dir, rel string, written bool, now time.Time) {
	first := now
	var writes WrittenFiles
	if written {
		writes.Add(rel, now)
	}
	for _, it := range q.perDir[dir] {
		if it.first.Before(first) {
			first = it.first
		}
		if it.written {
			writes.Add(it.rel, it.last)
		}
		q.remove(it)
	}
	it, ok := q.items[dir]
	if !ok {
		it = &pendingPath{rel: dir, kind: Folder, first: first, last: now}
		q.insert(it)
		q.signal()
	} else if it.kind < Folder {
		q.setKind(it, Folder)
	}
	for r, t := range writes.at {
		it.noteWrite(r, t)
	}
	q.touch(it, now)
}

// noteWrite records that the file rel, in the folder it scans, was
// written at t.
func (it *pendingPath) noteWrite(rel string, t time.Time) {
	if it.writes == nil {
		it.writes = new(WrittenFiles)
	}
	it.writes.Add(rel, t)
}

// dropBelow removes the pending entries strictly below rel: a tree scan
// of rel covers them.
func (q *Queue) dropBelow(rel string) {
	prefix := rel + "/"
	for r, it := range q.items {
		if rel == "" && r != "" || strings.HasPrefix(r, prefix) {
			q.remove(it)
		}
	}
}

func (q *Queue) insert(it *pendingPath) {
	q.items[it.rel] = it
	it.byFirst = q.byFirst.PushBack(it)
	it.byLast = q.byLast.PushBack(it)
	if it.kind == Path {
		dir := Parent(it.rel)
		m := q.perDir[dir]
		if m == nil {
			m = make(map[string]*pendingPath)
			q.perDir[dir] = m
		}
		m[it.rel] = it
	}
}

func (q *Queue) remove(it *pendingPath) {
	delete(q.items, it.rel)
	q.byFirst.Remove(it.byFirst)
	q.byLast.Remove(it.byLast)
	if it.kind == Path {
		q.unindex(it)
	}
}

func (q *Queue) unindex(it *pendingPath) {
	dir := Parent(it.rel)
	if m := q.perDir[dir]; m != nil {
		delete(m, it.rel)
		if len(m) == 0 {
			delete(q.perDir, dir)
		}
	}
}

func (q *Queue) clear() {
	q.items = make(map[string]*pendingPath)
	q.perDir = make(map[string]map[string]*pendingPath)
	q.byFirst.Init()
	q.byLast.Init()
}

// Parent returns the folder of a slash-separated relative path ("" for
// a top-level entry and for the root).
func Parent(rel string) string {
	dir := path.Dir(rel)
	if dir == "." || dir == "/" {
		return ""
	}
	return dir
}
