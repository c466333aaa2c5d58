package sync

import (
	"context"
	"sync"
)

// walk visits every folder item reachable from root with n goroutines
// reading folders in parallel; visit calls push for each subfolder it finds.
// The most recently pushed folder is visited first (depth first), which
// keeps the set of pending folders small on wide trees. walk returns when
// every pushed item was visited; once ctx ends, pending items are dropped.
func walk[T any](ctx context.Context, n int, root T, visit func(ctx context.Context, item T, push func(T))) {
	var (
		mu      sync.Mutex
		more    = sync.NewCond(&mu) // an item was pushed, or the walk ended
		stack   = []T{root}
		pending = 1 // pushed and not yet fully visited
		wg      sync.WaitGroup
	)
	push := func(item T) {
		mu.Lock()
		stack = append(stack, item)
		pending++
		mu.Unlock()
		more.Signal()
	}
	for range max(n, 1) {
		wg.Go(func() {
			for {
				mu.Lock()
				for len(stack) == 0 && pending > 0 {
					more.Wait()
				}
				if pending == 0 {
					mu.Unlock()
					return
				}
				item := stack[len(stack)-1]
				var zero T
				stack[len(stack)-1] = zero
				stack = stack[:len(stack)-1]
				mu.Unlock()

				if ctx.Err() == nil {
					visit(ctx, item, push)
				}

				mu.Lock()
				pending--
				finished := pending == 0
				mu.Unlock()
				if finished {
					more.Broadcast()
				}
			}
		})
	}
	wg.Wait()
}
