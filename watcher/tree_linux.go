package watcher

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// node is one watched folder: its watch descriptor and its place in the
// tree (parent and name). A node whose place is not known (its folder was
// renamed away, or exchanged, and the other half of the event has not been
// read yet) is detached: parent is nil and it waits in orphans.
type node struct {
	wd       int32
	parent   *node
	name     string
	children map[string]*node // watched subfolders by name; nil when none
	lost     bool             // events came while detached: have it scanned when found
}

// folders is the watcher's picture of the tree, owned by its goroutine.
type folders struct {
	top     *node
	wds     map[int32]*node
	orphans map[*node]time.Time // detached nodes and when to stop waiting for them
	dirty   map[*node]bool      // folders whose subfolders must be listed again (reconcile)
	pending []Event             // the current batch's events (flush)
	dirBuf  []byte              // for getdents
}

func newFolders() folders {
	return folders{
		wds:     make(map[int32]*node),
		orphans: make(map[*node]time.Time),
		dirty:   make(map[*node]bool),
		dirBuf:  make([]byte, 32<<10),
	}
}

func (w *Watcher) newNode(wd int32) *node {
	n := &node{wd: wd}
	w.wds[wd] = n
	w.nwatch.Add(1)
	return n
}

// attached reports whether n hangs from the root.
func (w *Watcher) attached(n *node) bool {
	for n.parent != nil {
		n = n.parent
	}
	return n == w.top
}

// relOf returns the slash-separated path of name in the folder p.
func (w *Watcher) relOf(p *node, name string) string {
	var parts []string
	if name != "" {
		parts = append(parts, name)
	}
	for ; p != nil && p != w.top; p = p.parent {
		parts = append(parts, p.name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

func (w *Watcher) abs(rel string) string {
	return filepath.Join(w.root, filepath.FromSlash(rel))
}

// attach puts x at p/name; whatever was there must have been detached.
func (w *Watcher) attach(p *node, name string, x *node) {
	if p.children == nil {
		p.children = make(map[string]*node)
	}
	p.children[name] = x
	x.parent, x.name = p, name
	delete(w.orphans, x)
}

// detach takes x from its place; it stays watched, as an orphan, until it
// is found elsewhere or orphanGrace has passed with nothing to read.
func (w *Watcher) detach(x *node) {
	if x.parent != nil && x.parent.children[x.name] == x {
		delete(x.parent.children, x.name)
	}
	x.parent = nil
	if x != w.top {
		w.orphans[x] = time.Now().Add(orphanGrace)
	}
}

// forget drops n after the kernel dropped its watch (IN_IGNORED: the
// folder was deleted, or its disk unmounted). Its subfolders, if any are
// left, become orphans.
func (w *Watcher) forget(n *node) {
	if n == w.top {
		// The root was deleted or its disk unmounted.
		w.queue(Event{Rel: "", Kind: Removed})
	}
	w.detach(n)
	delete(w.orphans, n)
	delete(w.dirty, n)
	delete(w.wds, n.wd)
	w.nwatch.Add(-1)
	for _, c := range n.children {
		c.parent = nil
		w.orphans[c] = time.Now().Add(orphanGrace)
	}
	n.children = nil
}

// drop removes the watches of n and every folder below it.
func (w *Watcher) drop(n *node) {
	stack := []*node{n}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range x.children {
			stack = append(stack, c)
		}
		if w.wds[x.wd] == x {
			_, _ = unix.InotifyRmWatch(w.fd, uint32(x.wd)) // gone already if the folder was deleted
			delete(w.wds, x.wd)
			w.nwatch.Add(-1)
		}
		delete(w.orphans, x)
		delete(w.dirty, x)
		x.children = nil
	}
	if n.parent != nil && n.parent.children[n.name] == n {
		delete(n.parent.children, n.name)
	}
	n.parent = nil
}

// nextOrphanDeadline returns when the first orphan stops being waited for.
func (w *Watcher) nextOrphanDeadline() (time.Time, bool) {
	var first time.Time
	for _, t := range w.orphans {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first, !first.IsZero()
}

// dropOrphans unwatches the orphans whose wait is over: nothing was left
// to read, so the other half of their rename is not coming; they left
// the tree.
func (w *Watcher) dropOrphans(now time.Time) {
	for n, t := range w.orphans {
		if !now.Before(t) && n.parent == nil {
			w.drop(n)
		}
	}
}

// markDirty has the subfolders of n listed again at the end of the batch.
func (w *Watcher) markDirty(n *node) { w.dirty[n] = true }

// place makes the picture of p/name what the kernel says it is now: the
// folder there (watched now if it was not; a new folder's tree is watched
// too) or nothing. It returns the folder's node, nil if there is none, and
// whether the picture changed (a folder found where another, or none, was
// thought to be). arrived says the event was news of a folder arriving
// (created, moved in): if none is there, p's path may be out of date.
//
// Renames are handled this way, not by pairing the two halves of each
// rename: an exchange (RENAME_EXCHANGE) or a rename over an existing
// folder gives halves whose names alone do not say which folder went
// where, and the watch descriptor the kernel returns for a path does.
func (w *Watcher) place(ctx context.Context, p *node, name string, arrived bool) (*node, bool) {
	cur := p.children[name]
	if w.exclude(w.relOf(p, name), true) {
		if cur != nil {
			w.detach(cur) // renamed to an excluded name: unwatched once its grace ends
		}
		return nil, cur != nil
	}
	x, fresh, subs, err := w.visit(p, name, true)
	if err != nil {
		if cur != nil {
			w.detach(cur)
		}
		if arrived && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP)) {
			// Nothing there, a file, or a symlink: if this was news of a
			// folder, p's path may be out of date (a folder above it was
			// renamed since): list p again once the batch is read.
			w.markDirty(p)
		}
		return nil, cur != nil
	}
	if fresh {
		w.walk(ctx, x, subs, false)
	}
	if x.lost {
		x.lost = false
		w.queue(Event{Rel: w.relOf(x, ""), Kind: DirAdded})
	}
	return x, x != cur
}

// visit watches the folder p/name and puts its node there: the node it
// has if it is watched already (moved from elsewhere), or a new one
// (fresh). With list, it also returns the names of its subfolders, read
// after the watch was placed, so a subfolder made meanwhile is either in
// the list or an event.
func (w *Watcher) visit(p *node, name string, list bool) (x *node, fresh bool, subs []string, err error) {
	rel := w.relOf(p, name)
	var buf []byte
	if list {
		buf = w.dirBuf
	}
	l := w.look(rel, buf)
	if l.err != nil {
		w.lookFailed(l)
		return nil, false, nil, l.err
	}
	x, fresh = w.placeNode(p, name, l.wd)
	if l.listErr != nil {
		w.cannotRead(rel, l.listErr) // watched; its subfolders come with a scan or their events
	}
	return x, fresh, l.subs, nil
}

// looked is what look found at one folder.
type looked struct {
	rel     string
	wd      int32
	subs    []string
	err     error // the folder could not be watched
	listErr error // watched, but its subfolders could not be read
}

// look watches the folder rel and, with buf, lists its subfolders: the
// system calls of a visit, which touch no node (so that several run at
// once in walkAll).
func (w *Watcher) look(rel string, buf []byte) looked {
	l := looked{rel: rel}
	path := w.abs(rel)
	fd, err := openFolder(path)
	if err != nil {
		l.err = err
		return l
	}
	defer unix.Close(fd)
	if l.wd, l.err = w.addWatch(fd, path); l.err != nil {
		return l
	}
	if buf != nil {
		l.subs, l.listErr = subfoldersFD(fd, path, buf)
	}
	return l
}

// lookFailed logs and counts a folder look could not watch.
func (w *Watcher) lookFailed(l looked) {
	switch {
	case errors.Is(l.err, fs.ErrNotExist) || errors.Is(l.err, unix.ENOTDIR) || errors.Is(l.err, unix.ELOOP):
		w.log.Debug("folder vanished before watch", "path", l.rel)
	case errors.Is(l.err, unix.ENOSPC):
		w.full = true
		w.missing++
	default:
		w.log.Warn("cannot watch folder", "path", l.rel, "err", l.err)
	}
}

// placeNode puts the node of watch wd at p/name: the node it has if the
// folder is watched already (moved from elsewhere), or a new one (fresh).
func (w *Watcher) placeNode(p *node, name string, wd int32) (x *node, fresh bool) {
	x = w.wds[wd]
	switch {
	case x == nil:
		x, fresh = w.newNode(wd), true
		if cur := p.children[name]; cur != nil {
			w.detach(cur)
		}
		w.attach(p, name, x)
	case x.parent != p || x.name != name || p.children[name] != x:
		if cur := p.children[name]; cur != nil && cur != x {
			w.detach(cur)
		}
		w.detach(x)
		w.attach(p, name, x)
	}
	return x, fresh
}

// walk watches the subfolders subs of x and everything below them. With
// again it visits folders it watches already too (after lost events);
// otherwise only new ones are descended into.
func (w *Watcher) walk(ctx context.Context, x *node, subs []string, again bool) {
	type item struct {
		p    *node
		name string
	}
	var stack []item
	push := func(p *node, subs []string) {
		for _, s := range subs {
			if !w.exclude(w.relOf(p, s), true) {
				stack = append(stack, item{p, s})
			}
		}
	}
	push(x, subs)
	for len(stack) > 0 {
		if ctx.Err() != nil {
			return
		}
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if w.full && it.p.children[it.name] == nil {
			w.missing++ // no watches left: count what is not watched
			continue
		}
		c, fresh, subs, err := w.visit(it.p, it.name, true)
		if err == nil && (fresh || again) {
			push(c, subs)
		}
	}
	w.noteDegraded()
}

// walkAll is walk for a whole tree (New's first walk, resync): the
// system calls of each folder (open, inotify_add_watch, getdents) run on
// lookers goroutines at once, while this goroutine alone places the
// nodes. A folder is still watched before it is listed, so a subfolder
// made meanwhile is in the list or an event.
func (w *Watcher) walkAll(ctx context.Context, x *node, subs []string, again bool) {
	type job struct {
		p    *node
		name string
		rel  string // computed here: the nodes are this goroutine's alone
	}
	type done struct {
		job
		l looked
	}
	jobs := make(chan job)
	results := make(chan done)
	var wg sync.WaitGroup
	for range lookers {
		wg.Go(func() {
			buf := make([]byte, 32<<10)
			for j := range jobs {
				results <- done{j, w.look(j.rel, buf)}
			}
		})
	}
	var queue []job
	push := func(p *node, subs []string) {
		for _, s := range subs {
			if rel := w.relOf(p, s); !w.exclude(rel, true) {
				queue = append(queue, job{p, s, rel})
			}
		}
	}
	push(x, subs)
	inflight := 0
	for len(queue) > 0 || inflight > 0 {
		var send chan job
		var next job
		if len(queue) > 0 && ctx.Err() == nil {
			if w.full && queue[len(queue)-1].p.children[queue[len(queue)-1].name] == nil {
				w.missing++ // no watches left: count what is not watched
				queue = queue[:len(queue)-1]
				continue
			}
			send, next = jobs, queue[len(queue)-1]
		} else if inflight == 0 {
			break // cancelled
		}
		select {
		case send <- next:
			queue = queue[:len(queue)-1]
			inflight++
		case d := <-results:
			inflight--
			if d.l.err != nil {
				w.lookFailed(d.l)
				continue
			}
			c, fresh := w.placeNode(d.p, d.name, d.l.wd)
			if d.l.listErr != nil {
				w.cannotRead(d.l.rel, d.l.listErr)
				continue
			}
			if fresh || again {
				push(c, d.l.subs)
			}
		}
	}
	close(jobs)
	wg.Wait()
	w.noteDegraded()
}

// noteDegraded reports, once, that a walk ran out of watches.
func (w *Watcher) noteDegraded() {
	if w.full && !w.degraded {
		w.degraded = true
		logLimit(w.log, w.Watches(), w.missing)
		w.queue(Event{Kind: Degraded})
	}
}

// lookers is how many goroutines walkAll looks at folders with.
var lookers = min(runtime.GOMAXPROCS(0), 4)

// resync brings the watches in line with the tree after events were lost:
// every folder is visited again (the kernel returns the watch it has, or
// a new one), and folders no longer found are unwatched.
func (w *Watcher) resync(ctx context.Context) {
	w.full = false
	w.missing = 0
	// Detach everything below the root; the walk re-places what is there.
	var all []*node
	for _, n := range w.wds {
		if n != w.top {
			all = append(all, n)
		}
	}
	for _, n := range all {
		n.parent = nil
		n.children = nil
	}
	w.top.children = nil
	clear(w.orphans)
	clear(w.dirty)
	w.walkAll(ctx, w.top, w.listRoot(), true)
	for _, n := range all {
		if w.wds[n.wd] == n && !w.attached(n) {
			w.drop(n)
		}
	}
}

// listRoot returns the root's subfolders (none if it cannot be read).
func (w *Watcher) listRoot() []string {
	fd, err := openFolder(w.root)
	if err != nil {
		w.cannotRead("", err)
		return nil
	}
	defer unix.Close(fd)
	subs, err := subfoldersFD(fd, w.root, w.dirBuf)
	if err != nil {
		w.cannotRead("", err)
	}
	return subs
}

// reconcile lists the dirty folders again and places each subfolder (and
// each one thought to be there) as the kernel says: a folder found where
// the events did not put it is reported with DirAdded.
//
// A dirty folder that is detached now (a folder above it left its place)
// stays dirty until it is placed again (then it is listed) or dropped.
//
// One whose path names nothing now is out of date (a folder above it was
// renamed and the event is not read yet): it stays dirty for the next
// batch. A folder that was deleted leaves with its IN_IGNORED.
func (w *Watcher) reconcile(ctx context.Context) {
	var later []*node
	defer func() {
		for _, n := range later {
			w.dirty[n] = true
		}
	}()
	for {
		var n *node
		for d := range w.dirty {
			if w.attached(d) {
				n = d
				break
			}
		}
		if n == nil {
			return
		}
		delete(w.dirty, n)
		rel := w.relOf(n, "")
		fd, err := openFolder(w.abs(rel))
		if err != nil {
			later = append(later, n)
			continue
		}
		subs, err := subfoldersFD(fd, w.abs(rel), w.dirBuf)
		unix.Close(fd)
		if err != nil {
			later = append(later, n)
			continue
		}
		names := make(map[string]bool, len(subs)+len(n.children))
		for _, s := range subs {
			names[s] = true
		}
		for s := range n.children {
			names[s] = true
		}
		for s := range names {
			if w.exclude(relJoin(rel, s), true) {
				continue
			}
			// place may mark n dirty again (a name gone meanwhile):
			// that is news of this very listing, not of a stale path.
			if x, changed := w.place(ctx, n, s, false); x != nil && changed {
				w.queue(Event{Rel: relJoin(rel, s), Kind: DirAdded})
			}
		}
	}
}

func relJoin(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// cannotRead logs a folder that could not be opened (or vanished).
func (w *Watcher) cannotRead(rel string, err error) {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		w.log.Debug("folder vanished before watch", "path", rel)
		return
	}
	w.log.Warn("cannot read folder", "path", rel, "err", err)
}
