package sync

import (
	"context"
	"sync"
	"time"
)

// committer makes batches of finished temp files durable with one flush
// of the destination filesystem, then renames them to their final names.
// Per-file fsync costs a disk cache flush per file; flushing once for every
// file that finished while the previous flush ran gives the same guarantee
// (data on disk before a name points at it) at a fraction of the cost, and
// adds no delay when files arrive one at a time.
type committer struct {
	r     *pairRun
	flush func() error // makes everything written so far durable
	items chan commitItem
	done  sync.WaitGroup
}

// commitItem is a complete temp file waiting for its final name.
type commitItem struct {
	tmpPath string
	rel     string
	replace func() error // see writeOptions.replace
	in      *dirMeta
	bytes   int64
	start   time.Time     // when the copy started
	id      copyIdentity  // for the index
	barrier chan struct{} // set on a barrier: closed once everything before it is committed
}

// maxBatch bounds one flush; items beyond wait for the next.
const maxBatch = 1024

func newCommitter(r *pairRun, flush func() error) *committer {
	c := &committer{r: r, flush: flush, items: make(chan commitItem, maxBatch)}
	c.done.Go(c.loop)
	return c
}

// add hands a temp file over; the committer now owns it.
func (c *committer) add(ctx context.Context, it commitItem) error {
	select {
	case c.items <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait returns once every item added before it is committed (or ctx ends).
func (c *committer) wait(ctx context.Context) {
	done := make(chan struct{})
	if c.add(ctx, commitItem{barrier: done}) != nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// close commits what is pending and waits for the committer to end. No add
// may follow.
func (c *committer) close() {
	close(c.items)
	c.done.Wait()
}

func (c *committer) loop() {
	for first := range c.items {
		batch := []commitItem{first}
	collect:
		for len(batch) < maxBatch {
			select {
			case it, ok := <-c.items:
				if !ok {
					break collect
				}
				batch = append(batch, it)
			default:
				break collect
			}
		}
		c.commit(batch)
	}
}

// commit flushes once, then renames every item of the batch.
func (c *committer) commit(batch []commitItem) {
	r := c.r
	var barriers []chan struct{}
	defer func() {
		for _, b := range barriers {
			close(b)
		}
	}()
	files := batch[:0:0]
	for _, it := range batch {
		if it.barrier != nil {
			barriers = append(barriers, it.barrier)
		} else {
			files = append(files, it)
		}
	}
	if batch = files; len(batch) == 0 {
		return
	}
	defer func() {
		for _, it := range batch {
			r.kind.release(it.rel)
		}
	}()
	if err := c.flush(); err != nil {
		for _, it := range batch {
			removeTemp(it.tmpPath)
			r.fail("fsync", it.rel, err)
		}
		return
	}
	for _, it := range batch {
		if err := finishTemp(it.tmpPath, r.dstPath(it.rel), it.replace); err != nil {
			removeTemp(it.tmpPath)
			r.failOrPause("rename", it.rel, err)
			continue
		}
		r.kind.recovered(it.rel, stepDone)
		r.recordCopy(it.rel, it.id)
		it.in.changed.Store(true)
		r.progress.FilesDone.Add(1)
		r.progress.BytesDone.Add(it.bytes)
		r.log.Debug("copied", "path", it.rel, "bytes", it.bytes)
		r.kind.copied(r.pair.Name, it.bytes, time.Since(it.start))
	}
	r.log.Debug("batch committed", "files", len(batch))
}
