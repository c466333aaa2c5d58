//go:build linux

package sync

import (
	"context"
	"errors"
	"github.com/copyd/copyd/sync/settle"
	"github.com/copyd/copyd/sync/workpool"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/index"
)

// failingPair returns a daemon pair of src and dst with an index of its
// own, ready for path jobs and scans, without a watcher or a loop.
func failingPair(t *testing.T, src, dst string) *livePair {
	t.Helper()
	cfg := liveConfig(config.Pair{Source: src, Destination: dst})
	cfg.Pairs[0].Fsync = false
	pool := workpool.New(t.Context(), 2)
	t.Cleanup(pool.Close)
	idx, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Binding{Source: src, Destination: dst}, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	lp := newLivePair(cfg.Pairs[0], cfg, pool, slog.New(slog.DiscardHandler))
	lp.settle = settle.New(cfg.Settle, cfg.MaxDelay)
	lp.queue = pool.NewQueue(8)
	lp.idx = idx
	lp.base = lp.newPass(lp.queue)
	return lp
}

// indexedFailure returns what the pair's index keeps of rel's failure.
func indexedFailure(t *testing.T, lp *livePair, rel string) (index.Failure, bool) {
	t.Helper()
	lp.idx.Flush(t.Context())
	for _, f := range lp.idx.Failures(t.Context()) {
		if f.Path == rel {
			return f, true
		}
	}
	return index.Failure{}, false
}

// TestFailingPathEndsOnlyByItsStep fails a path, lets another step of its
// job work, and fails it again: a step that comes before the one that
// failed (the folder read before it is made, or gets its metadata; a copy
// handed to the committer before its rename) must not end the failure,
// else the path starts failing anew with a new since and one attempt, at
// every retry and at every restart (whose first pass reads every folder).
func TestFailingPathEndsOnlyByItsStep(t *testing.T) {
	t.Parallel()
	ok := func() error { return nil }
	tests := []struct {
		name   string
		failed string                  // the op that failed
		works  func(*livePair, string) // another step on the path, which works
		ends   bool                    // whether that ends the failure
	}{
		{"read folder, then the folder is read", "read folder", (*livePair).succeeded, true},
		{"stat, then the folder is read", "stat", (*livePair).succeeded, true},
		{"mkdir, then the folder is read", "mkdir", (*livePair).succeeded, false},
		{"set folder metadata, then the folder is read", "set folder metadata", (*livePair).succeeded, false},
		{"read destination folder, then the folder is read", "read destination folder", (*livePair).succeeded, false},
		{"create destination, then the root is read", "create destination", (*livePair).succeeded, false},
		{"mkdir, then the file in its way is replaced", "mkdir", tryStep("replace with folder", ok), false},
		{"copy, then it is copied", "copy", tryStep("copy", ok), true},
		{"stat destination, then it is copied", "stat destination", tryStep("copy", ok), true},
		{"rename, then the copy is handed to the committer", "rename", tryStep("copy", ok), false},
		{"fsync, then the copy is handed to the committer", "fsync", tryStep("copy", ok), false},
		{"copy, then it is deleted", "copy", tryStep("delete", ok), true},
		{"copy symlink, then it is copied", "copy symlink", tryStep("copy symlink", ok), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			lp := failingPair(t, filepath.Join(base, "src"), filepath.Join(base, "dst"))
			const rel = "a"
			cause := errors.New("permission denied")
			lp.retryLater(tt.failed, rel, cause)
			first, _ := indexedFailure(t, lp, rel)
			tt.works(lp, rel)
			lp.retryLater(tt.failed, rel, cause)

			got, inIndex := indexedFailure(t, lp, rel)
			listed := lp.failingNow()
			switch {
			case !inIndex || len(listed) != 1:
				t.Fatalf("after the second failure: index has %+v (%v), status lists %+v; want %s listed in both", got, inIndex, listed, rel)
			case listed[0].Attempts != got.Attempts || !listed[0].Since.Equal(got.Since):
				t.Errorf("status lists %+v, index keeps %+v: they differ", listed[0], got)
			}
			if tt.ends {
				if got.Attempts != 1 {
					t.Errorf("%s after the step worked: %d attempts, want 1 (a new failure)", tt.failed, got.Attempts)
				}
				return
			}
			if got.Attempts != 2 || !got.Since.Equal(first.Since) {
				t.Errorf("%s failing again: since %v, %d attempts; want the first since %v, 2 attempts (the step that worked did not fix it)",
					tt.failed, got.Since, got.Attempts, first.Since)
			}
		})
	}
}

// tryStep returns a step on a path that runs as a pass of the daemon
// runs its operations.
func tryStep(step string, op func() error) func(*livePair, string) {
	return func(lp *livePair, rel string) { lp.try(context.Background(), lp.base, step, rel, op) }
}

// TestStepEnds is the rule recovered applies: which failures of a path a
// step that worked on it ends.
func TestStepEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		step, op string
		want     bool
	}{
		{"copy", "copy", true},
		{"mkdir", "mkdir", true},
		{stepRead, "read folder", true},
		{stepRead, "stat", true},
		{stepRead, "mkdir", false},
		{stepRead, "set folder metadata", false},
		{stepRead, "read destination folder", false},
		{stepRead, "create destination", false},
		{"replace with folder", "read folder", true},
		{"replace with folder", "mkdir", false},
		{"copy", "stat", true},
		{"copy", "set metadata", true},
		{"copy", "rename", false},
		{"copy", "fsync", false},
		{stepDone, "rename", true},
		{stepDone, "fsync", true},
		{"delete", "copy", true},
		{stepFolder, "mkdir", true},
		{stepFolder, "read destination folder", true},
		{stepFolder, "create destination", true},
		{stepFolder, "fsync", false},
		{"set folder metadata", "mkdir", false},
		{"fsync folder", "fsync", true},
		{"fsync folder", "set folder metadata", false},
	}
	for _, tt := range tests {
		if got := ends(tt.step, tt.op); got != tt.want {
			t.Errorf("ends(%q, %q) = %v, want %v", tt.step, tt.op, got, tt.want)
		}
	}
}

// TestFailuresSurviveACutShortPass loads a failure kept from the last run
// of copyd (one of those the start does not retry before its pass) and
// makes the first pass: one that ran to its end with nothing failing
// proves the path in step, one cut short (copyd stopped during it) never
// reached it and must keep it, with its since and attempts, for the next
// start.
func TestFailuresSurviveACutShortPass(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		stopped bool // copyd stops before the pass reaches the path
		kept    bool
	}{
		{"stopped during the pass", true, true},
		{"pass ran to its end", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
			writeTree(t, src, map[string]string{"sub/f.txt": "f", "top.txt": "top"})
			lp := failingPair(t, src, dst)
			since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			lp.idx.Fail("sub", "mkdir", "mkdir dst/sub: permission denied", since)
			lp.idx.Fail("sub", "mkdir", "mkdir dst/sub: permission denied", since.Add(time.Minute))
			lp.idx.Flush(t.Context())
			lp.loadFailures(t.Context())

			ctx, cancel := context.WithCancel(t.Context())
			if tt.stopped {
				cancel()
			}
			defer cancel()
			if err := lp.scan(ctx, "", true, true, nil); err != nil {
				t.Fatal(err)
			}
			f, ok := indexedFailure(t, lp, "sub")
			switch {
			case ok != tt.kept:
				t.Errorf("after the pass the index keeps %+v (%v); want it kept: %v", f, ok, tt.kept)
			case ok && (!f.Since.Equal(since) || f.Attempts != 2):
				t.Errorf("after the pass the index keeps sub failing since %v, %d attempts; want since %v, 2 attempts", f.Since, f.Attempts, since)
			}
			if listed := lp.failingNow(); (len(listed) == 1) != tt.kept {
				t.Errorf("after the pass the status lists %+v; want sub listed: %v", listed, tt.kept)
			}
		})
	}
}

func TestRetriedAsTree(t *testing.T) {
	t.Parallel()
	for op, want := range map[string]bool{
		stepRead: true, opReadDestFolder: true, opMkdir: true, opCreateDest: true,
		"copy": false, "stat": false, "set folder metadata": false, "delete": false, "rename": false,
	} {
		if got := retriedAsTree(op); got != want {
			t.Errorf("retriedAsTree(%q) = %v, want %v", op, got, want)
		}
	}
}
