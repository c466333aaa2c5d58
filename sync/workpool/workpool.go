package workpool

import (
	"context"
	"sync"
)

// Job is one unit of work run by a pool worker. ctx is the pool's context:
// it is cancelled when the pool's owner gives up.
type Job func(ctx context.Context)

// Pool runs jobs on a fixed number of workers shared by every pair. Each
// pair submits through its own [Queue]; workers take jobs from the queues in
// turn, so a pair with a million pending files does not starve a pair with
// one. A Queue holds a bounded number of pending jobs: Submit blocks when it
// is full, which throttles the scanners that feed it.
type Pool struct {
	ctx    context.Context
	mu     sync.Mutex
	wake   *sync.Cond // a job was queued, or the pool closed
	queues []*Queue   // queues with at least one pending job, in turn order
	closed bool
	want   int // workers wanted; guarded by mu
	have   int // workers running; guarded by mu
	wg     sync.WaitGroup
}

// New starts n workers (n < 1 counts as 1). Jobs receive ctx. Call
// [Pool.Close] to stop the workers once every job was submitted.
func New(ctx context.Context, n int) *Pool {
	p := &Pool{ctx: ctx}
	p.wake = sync.NewCond(&p.mu)
	p.Resize(n)
	return p
}

// Resize changes the number of workers to n (n < 1 counts as 1). Extra
// workers stop after their current job; new ones start at once.
func (p *Pool) Resize(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want = max(n, 1)
	for ; p.have < p.want; p.have++ {
		p.wg.Go(p.work)
	}
	p.wake.Broadcast() // idle extra workers notice and stop
}

// Queue is one pair's line into a [Pool]. It is safe for concurrent use.
type Queue struct {
	pool  *Pool
	slots chan struct{}   // one token per pending or running job: the bound
	jobs  []Job           // pending, FIFO; guarded by pool.mu
	busy  int             // jobs submitted and not finished; guarded by pool.mu
	idle  *sync.Cond      // on pool.mu; signalled when busy drops to 0
	stop  context.Context // when set and done, queued jobs are skipped
}

// NewQueue returns a queue that holds at most capacity pending jobs.
func (p *Pool) NewQueue(capacity int) *Queue {
	return &Queue{pool: p, slots: make(chan struct{}, max(capacity, 1)), idle: sync.NewCond(&p.mu)}
}

// SkipAfter makes the queue skip the jobs still queued once stop ends
// (jobs running then finish): a stopping daemon leaves queued copies to
// its next start. Call it before the first Submit.
func (q *Queue) SkipAfter(stop context.Context) { q.stop = stop }

// Submit queues job, blocking while the queue is full. It returns ctx's
// error if ctx ends first; the job is then not run. Submit after
// [Pool.Close] panics (a programming error).
func (q *Queue) Submit(ctx context.Context, job Job) error {
	select {
	case q.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	p := q.pool
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		panic("copysync: Submit after Pool.Close")
	}
	q.busy++
	if len(q.jobs) == 0 {
		p.queues = append(p.queues, q)
	}
	q.jobs = append(q.jobs, job)
	p.mu.Unlock()
	p.wake.Signal()
	return nil
}

// Wait blocks until the queue has no pending or running job. It may be
// called while other goroutines Submit (it then also waits for their jobs).
func (q *Queue) Wait() {
	p := q.pool
	p.mu.Lock()
	for q.busy > 0 {
		q.idle.Wait()
	}
	p.mu.Unlock()
}

// Close lets the workers finish the queued jobs and waits for them.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wake.Broadcast()
	p.wg.Wait()
}

func (p *Pool) work() {
	for {
		q, job := p.next()
		if job == nil {
			return
		}
		if q.stop == nil || q.stop.Err() == nil {
			job(p.ctx)
		}
		<-q.slots
		p.mu.Lock()
		if q.busy--; q.busy == 0 {
			q.idle.Broadcast()
		}
		p.mu.Unlock()
	}
}

// next takes the first job of the queue whose turn it is and moves that
// queue to the back of the line (round robin). It returns a nil job when the
// pool is closed and nothing is left, or when the worker is one too many.
func (p *Pool) next() (*Queue, Job) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queues) == 0 || p.have > p.want {
		if p.have > p.want {
			p.have--
			return nil, nil
		}
		if p.closed {
			return nil, nil
		}
		p.wake.Wait()
	}
	q := p.queues[0]
	job := q.jobs[0]
	q.jobs[0] = nil
	q.jobs = q.jobs[1:]
	p.queues = p.queues[1:]
	if len(q.jobs) > 0 {
		p.queues = append(p.queues, q)
	}
	return q, job
}
