package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/index"
	"github.com/copyd/copyd/remote"
	copysync "github.com/copyd/copyd/sync"
)

// cmdSync copies every pair once and exits: 0 all good, 1 some files
// failed, 2 usage or config error.
func cmdSync(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, pos, err := parseCommon("sync", args)
	if err != nil {
		return usageError(stdout, stderr, err)
	}
	cfg, err := f.loadConfig(pos)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	log := newLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	if len(cfg.Pairs) == 0 {
		log.Warn("no pairs configured; nothing to copy", "config", cfg.File)
	}
	progress := new(copysync.Progress)
	stopBar := func() {}
	if showProgress(f.progress, stderr) && !f.dryRun {
		stopBar = startProgressBar(ctx, stderr, progress)
	}
	locals, remotes := splitPairs(cfg.Pairs)
	var (
		rsum copysync.Summary
		rerr error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		if len(remotes) > 0 {
			rsum, rerr = remote.Sync(ctx, remotes, remote.Options{
				DryRun: f.dryRun, Plan: stdout, Log: log, Progress: progress, StateDir: cfg.StateDir,
			})
		}
	}()
	sum, err := copysync.Sync(ctx, locals, copysync.Options{
		Workers:  cfg.Workers,
		DryRun:   f.dryRun,
		Plan:     stdout,
		Log:      log,
		Progress: progress,
		StateDir: cfg.StateDir,
	})
	<-done
	sum, err = mergeSummaries(sum, rsum), errors.Join(err, rerr)
	stopBar()
	if len(cfg.Pairs) != 1 || !errors.Is(err, index.ErrLocked) {
		// A lone pair refused before it began (another copyd holds its
		// destination) has nothing to sum up: its error says it all.
		fmt.Fprintln(stdout, summaryLine(sum, f.dryRun))
	}
	switch {
	case ctx.Err() != nil:
		log.Error("interrupted; files copied so far are complete, run again to finish")
		return exitFailed
	case err != nil:
		log.Error("sync failed", "err", err)
		return exitFailed
	case sum.Failed > 0:
		return exitFailed
	}
	return exitOK
}

// summaryLine is the one line every sync ends with.
func summaryLine(s copysync.Summary, dryRun bool) string {
	secs := s.Duration.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(s.Bytes) / 1e6 / secs
	}
	verb := "copied"
	if dryRun {
		verb = "would copy"
	}
	line := fmt.Sprintf("%s %s (%s), skipped %d (%d up to date, %d special), failed %d",
		verb, plural(s.Copied, "file"), humanBytes(s.Bytes), s.UpToDate+s.Special, s.UpToDate, s.Special, s.Failed)
	if s.Deleted > 0 || s.Archived > 0 {
		line += fmt.Sprintf(", deleted %d, archived %d", s.Deleted, s.Archived)
	}
	return line + fmt.Sprintf(", %.2f s, %.1f MB/s", secs, rate)
}

// plural spells "1 file", "2 files".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// humanBytes formats n in decimal units, as file managers and rsync do.
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n), "kMGTPE"
	i := -1
	for v >= unit && i < len(suffix)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %cB", v, suffix[i])
}

// showProgress decides whether to draw a progress bar on w.
func showProgress(when string, w io.Writer) bool {
	switch when {
	case "always":
		return true
	case "never":
		return false
	}
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// progressInterval is how often the bar redraws.
const progressInterval = 200 * time.Millisecond

// splitPairs sorts pairs into those package sync copies (local
// destinations) and those package remote does (S3, SFTP).
func splitPairs(pairs []config.Pair) (locals, remotes []config.Pair) {
	for _, p := range pairs {
		if p.Remote() {
			remotes = append(remotes, p)
		} else {
			locals = append(locals, p)
		}
	}
	return locals, remotes
}

// mergeSummaries adds the remote engine's run to the local one's: both
// counted into one Progress, so the counts are the Progress's (a's); the
// longer duration and both failure lists are kept.
func mergeSummaries(a, b copysync.Summary) copysync.Summary {
	a.Duration = max(a.Duration, b.Duration)
	a.Copied, a.Bytes, a.UpToDate = max(a.Copied, b.Copied), max(a.Bytes, b.Bytes), max(a.UpToDate, b.UpToDate)
	a.Special, a.Deleted, a.Archived, a.Failed = max(a.Special, b.Special), max(a.Deleted, b.Deleted), max(a.Archived, b.Archived), max(a.Failed, b.Failed)
	a.Failures = append(a.Failures, b.Failures...)
	return a
}
