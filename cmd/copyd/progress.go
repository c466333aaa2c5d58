package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	copysync "github.com/copyd/copyd/sync"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// startProgressBar draws files, bytes, rate and ETA on w until the returned
// stop function is called. The total grows while the scan finds more work.
func startProgressBar(ctx context.Context, w io.Writer, p *copysync.Progress) (stop func()) {
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(24),
		progressbar.OptionThrottle(progressInterval),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionFullWidth(),
	)
	bar.Describe("scanning; 0/0 files copied")
	_ = bar.RenderBlank() // show it at once, not after the first tick
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-done:
				return
			case <-ctx.Done():
				return
			}
			// While the scan still finds work the total is unknown: a
			// spinner with counts; then a bar with a percentage and ETA.
			if p.Scanning.Load() > 0 {
				bar.Describe(fmt.Sprintf("scanning; %d/%d files copied", p.FilesDone.Load(), p.FilesQueued.Load()))
			} else {
				if total := p.BytesQueued.Load(); total > 0 && bar.GetMax64() != total {
					bar.ChangeMax64(total)
				}
				bar.Describe(fmt.Sprintf("%d/%d files", p.FilesDone.Load(), p.FilesQueued.Load()))
			}
			_ = bar.Set64(p.BytesDone.Load())
		}
	})
	return func() {
		close(done)
		wg.Wait()
		_ = bar.Finish()
		_ = bar.Clear()
	}
}
