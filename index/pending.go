package index

import (
	"path"
	"sync"
	"sync/atomic"
)

// pending is what was written but not yet committed: reads consult it
// first, so that a record is seen the moment Put returns, not when its
// batch commits (a file copied and then, within the batch window, swapped
// for a look-alike must be judged by its record, not by size and mtime).
//
// Puts and deletes are kept by path: the latest write to a path decides
// what a read of it returns, whether or not the database holds it yet, so
// an entry may stay until after its commit. Moves are not replayed here:
// while one is queued, reads wait for it to commit (folder renames are
// rare; a read of the wrong path's record would be a wrong answer).
type pending struct {
	mu    sync.Mutex
	seq   uint64
	paths map[string]pendingWrite        // the latest put or delete of exactly this path
	trees map[string]uint64              // the latest delete of this path, which forgets its subtree
	kids  map[string]map[string]struct{} // folder → names in paths
	moves atomic.Int32                   // queued moves
}

type pendingWrite struct {
	seq     uint64
	rec     Record
	deleted bool
}

func newPending() *pending {
	return &pending{paths: make(map[string]pendingWrite), trees: make(map[string]uint64), kids: make(map[string]map[string]struct{})}
}

// note registers o before it is queued and returns its sequence number.
func (p *pending) note(o op) uint64 {
	switch o.kind {
	case opPut, opDelete, opMove:
	default:
		return 0
	}
	if o.kind == opMove {
		p.moves.Add(1)
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	w := pendingWrite{seq: p.seq, rec: o.rec, deleted: o.kind == opDelete}
	p.paths[o.rel] = w
	dir, name := split(o.rel)
	k := p.kids[dir]
	if k == nil {
		k = make(map[string]struct{})
		p.kids[dir] = k
	}
	k[name] = struct{}{}
	if w.deleted {
		p.trees[o.rel] = p.seq
	}
	return p.seq
}

// committed forgets the writes of a batch once it is committed (or lost:
// a lost write is no better known than a committed one).
func (p *pending) committed(batch []op) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range batch {
		switch o.kind {
		case opMove:
			p.moves.Add(-1)
		case opPut, opDelete:
			if w, ok := p.paths[o.rel]; ok && w.seq == o.seq {
				delete(p.paths, o.rel)
				dir, name := split(o.rel)
				if k := p.kids[dir]; k != nil {
					delete(k, name)
					if len(k) == 0 {
						delete(p.kids, dir)
					}
				}
			}
			if s, ok := p.trees[o.rel]; ok && s == o.seq {
				delete(p.trees, o.rel)
			}
		}
	}
}

// treeDelete returns the latest queued delete of rel or of a folder above
// it (0: none). p.mu is held.
func (p *pending) treeDelete(rel string) uint64 {
	var latest uint64
	if len(p.trees) == 0 {
		return 0
	}
	for {
		if s := p.trees[rel]; s > latest {
			latest = s
		}
		if rel == "" {
			return latest
		}
		rel = path.Dir(rel)
		if rel == "." {
			rel = ""
		}
	}
}

// lookup says what the queued writes make of rel: known is false when
// none concerns it (the database decides).
func (p *pending) lookup(rel string) (rec Record, ok, known bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.paths) == 0 {
		return Record{}, false, false
	}
	w, has := p.paths[rel]
	tree := p.treeDelete(rel)
	switch {
	case tree > w.seq:
		return Record{}, false, true
	case has && !w.deleted:
		return w.rec, true, true
	case has:
		return Record{}, false, true
	}
	return Record{}, false, false
}

// dirView is what the queued writes make of folder rel: when cleared,
// nothing committed below it counts; set holds the names whose record the
// queue decides (nil Record pointer: none).
type dirView struct {
	cleared bool
	set     map[string]*Record
}

// apply lays the queued writes of v over committed, a folder's records as
// read from the database (read after v was taken), and returns the result:
// nil when no record is left.
func (v dirView) apply(committed map[string]Record) map[string]Record {
	out := committed
	if v.cleared {
		out = nil
	}
	for name, r := range v.set {
		if r == nil {
			delete(out, name)
			continue
		}
		if out == nil {
			out = make(map[string]Record)
		}
		out[name] = *r
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (p *pending) dir(rel string) dirView {
	p.mu.Lock()
	defer p.mu.Unlock()
	var v dirView
	if len(p.paths) == 0 {
		return v
	}
	tree := p.treeDelete(rel)
	v.cleared = tree > 0
	for name := range p.kids[rel] {
		child := name
		if rel != "" {
			child = rel + "/" + name
		}
		w := p.paths[child]
		if v.set == nil {
			v.set = make(map[string]*Record)
		}
		if w.deleted || tree > w.seq {
			v.set[name] = nil
			continue
		}
		r := w.rec
		v.set[name] = &r
	}
	return v
}
