package sync

import (
	"context"

	"github.com/copyd/copyd/sync/workpool"
)

// batch groups the jobs of one folder's small files so that one worker runs
// them in a row. Creating and renaming files takes the folder's lock in the
// kernel: workers that each stay in a folder of their own do not wait for
// each other, where workers that share one folder file by file do. Big files
// still get a job each, so that several copy at once.
type batch struct {
	r     *pairRun
	jobs  []workpool.Job
	bytes int64
}

// A batch is submitted when it holds this many files or bytes.
const (
	batchFiles   = 32
	batchBytes   = 4 << 20
	bigFileBytes = 1 << 20 // a file this big is a job of its own
)

// add queues job, for a file of size bytes, in the batch.
func (b *batch) add(ctx context.Context, size int64, job workpool.Job) {
	if size >= bigFileBytes {
		b.r.submit(ctx, job)
		return
	}
	b.jobs = append(b.jobs, job)
	b.bytes += size
	if len(b.jobs) >= batchFiles || b.bytes >= batchBytes {
		b.flush(ctx)
	}
}

// flush submits what the batch holds as one job.
func (b *batch) flush(ctx context.Context) {
	if len(b.jobs) == 0 {
		return
	}
	jobs := b.jobs
	b.jobs, b.bytes = nil, 0
	b.r.submit(ctx, func(ctx context.Context) {
		for _, job := range jobs {
			if ctx.Err() != nil {
				return
			}
			job(ctx)
		}
	})
}
