package sync

import (
	"context"
	"sync"

	"github.com/copyd/copyd/index"
)

// kidRecords reads the index's records of a folder's subfolders in
// batches of index.DirsBatch, one query each, as the scan comes to them:
// starting a query costs about as much as reading a folder's records, and
// a restart reads every folder's (a million-file tree: 100,000 queries).
// At most one batch ahead is held per folder, so a folder of a hundred
// thousand subfolders does not load the whole index.
//
// Only passes that no other job writes records beside use it (one-shot
// runs, the daemon's first pass): a batch read earlier than its folder's
// scan would miss a record written in between. (A record read early is
// still proof: it says what both sides were, and the quick check compares
// both identities.)
type kidRecords struct {
	mu      sync.Mutex
	names   []string // the subfolders' paths, in the order they were pushed
	hi      int      // names[hi:] are all fetched
	fetched map[string]bool
	got     map[string]map[string]index.Record // fetched, not yet taken
}

// add notes the subfolder rel, pushed for scanning.
func (k *kidRecords) add(rel string) {
	k.mu.Lock()
	k.names = append(k.names, rel)
	k.hi = len(k.names)
	k.mu.Unlock()
}

// take returns the records of the subfolder rel, reading a batch of the
// subfolders not yet read (rel and those pushed just before it: the scan
// takes them last pushed first) when rel's are not read yet. ok is false
// when the batch could not be read.
func (k *kidRecords) take(ctx context.Context, idx *index.DB, rel string) (recs map[string]index.Record, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.fetched[rel] {
		batch := []string{rel}
		for i := k.hi - 1; i >= 0 && len(batch) < index.DirsBatch; i-- {
			if n := k.names[i]; n != rel && !k.fetched[n] {
				batch = append(batch, n)
			}
		}
		got, ok := idx.Dirs(ctx, batch)
		if !ok {
			return nil, false
		}
		if k.fetched == nil {
			k.fetched = make(map[string]bool)
			k.got = make(map[string]map[string]index.Record)
		}
		for _, n := range batch {
			k.fetched[n] = true
			if m, ok := got[n]; ok {
				k.got[n] = m
			}
		}
		for k.hi > 0 && k.fetched[k.names[k.hi-1]] {
			k.hi--
		}
	}
	recs = k.got[rel]
	delete(k.got, rel)
	if k.hi == 0 && len(k.got) == 0 {
		k.names, k.fetched = nil, nil // all taken: the pass keeps the folder's meta, not this
	}
	return recs, true
}
