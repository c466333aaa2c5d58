//go:build unix

package main

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestCrashDuringChurn kills copyd with SIGKILL at random moments while
// TestChurn's random workload runs: during the initial pass of a restart
// (odd kills) and during live copies (even kills), with --delete on every
// other pair of rounds. Churn renames files and folders and copyd renames
// destination entries to follow, so a destination file is judged against
// every content the workload ever gave a file, under any name
// (churnStates): after every kill each file under its final name must hold
// one of them, and each symlink a target a source symlink had. The temp
// files a kill leaves must be gone once the next start has made its
// initial pass. A last start, with --delete for even seeds (and after a
// retype), must converge
// as in TestChurn and stop cleanly with no temp file.
//
// COPYD_CRASH_CHURN_KILLS sets the number of kills (default 6; the full
// reliability run uses 30), COPYD_CRASH_SEED the seed.
func TestCrashDuringChurn(t *testing.T) {
	t.Parallel()
	began := time.Now()
	kills, seed := crashKnobs(t, "COPYD_CRASH_CHURN_KILLS", 6)
	replay := fmt.Sprintf("COPYD_CRASH_SEED=%d COPYD_CRASH_CHURN_KILLS=%d go test -run 'TestCrashDuringChurn$' ./cmd/copyd/", seed, kills)
	t.Logf("seed %d (replay: %s)", seed, replay)
	base, src, dst := dirs(t, nil)
	outside := filepath.Join(base, "outside")
	mkdir(t, outside)
	cc := &crashChurn{
		t:       t,
		c:       newChurner(seed, src, outside, false),
		rng:     rand.New(rand.NewPCG(seed, ^seed)), // the moments: a stream apart from the churner's
		src:     src,
		dst:     dst,
		seed:    seed,
		replay:  replay,
		pending: map[string]int{},
		starts:  map[int]int{},
	}
	cc.c.states = newChurnStates()
	if err := cc.c.seed(); err != nil {
		t.Fatalf("seed %d: seeding the source: %v", seed, err)
	}
	for k := 1; k <= kills; k++ {
		cc.round(k, k%2 == 0, (k-1)/2%2 == 1)
	}
	// A delete round may have retyped a path (a folder became a file)
	// that copyd was killed before mirroring; without delete the
	// destination keeps the folder by design, so the last start mirrors.
	retyped := slices.ContainsFunc(cc.c.ops, func(op string) bool { return strings.Contains(op, " retype ") })
	cc.converge(seed%2 == 0 || retyped)
	t.Logf("%d kills (%d in an initial pass, %d during live copies) during %d churn ops: %d destination files and %d symlinks checked complete (%d of the files held a state from inside a write call), %d temp files left by %d of the kills, all removed by the next start; converged; in %v",
		kills, cc.inInitial, kills-cc.inInitial, len(cc.c.ops), cc.files, cc.links, cc.midWrite, cc.temps, cc.withTemps, time.Since(began).Round(time.Millisecond))
}

// crashChurn is the state of TestCrashDuringChurn across its rounds.
type crashChurn struct {
	t        *testing.T
	c        *churner
	rng      *rand.Rand
	src, dst string
	seed     uint64
	replay   string
	pending  map[string]int // temp files left by kills → the kill; gone once a start has made its initial pass
	starts   map[int]int    // kill → the index of its round's first op

	inInitial, files, links, temps, withTemps int
	midWrite                                  int // files that held a state from inside a write call (see churnStates)
}

// round starts copyd (with --delete when mirror) and the churner, kills
// copyd in its initial pass or, when live, once it watches, lets the
// churner go on a little while copyd is down, and checks the destination.
func (cc *crashChurn) round(kill int, live, mirror bool) {
	t := cc.t
	t.Helper()
	during, after := "initial pass", "the start"
	wait := time.Duration(cc.rng.IntN(100)) * time.Millisecond // the pass takes ~50-100 ms
	if live {
		during, after = "live copies", `"watching"`
		wait = time.Duration(cc.rng.IntN(300)) * time.Millisecond
	}
	down := time.Duration(cc.rng.IntN(100)) * time.Millisecond // churn while copyd is down
	first := len(cc.c.ops)
	cc.starts[kill] = first
	cc.c.delete = mirror
	cc.c.record("-- round %d: copyd run (delete=%v), to be killed %v after %s", kill, mirror, wait, after)
	what := fmt.Sprintf("kill %d (during %s, delete=%v)", kill, during, mirror)

	d := startRun(t, nil, crashChurnArgs(mirror, cc.src, cc.dst)...)
	var killed atomic.Bool
	marked := false // the churner's goroutine's alone
	stop := cc.goChurn(func() {
		if !marked && killed.Load() {
			marked = true
			cc.c.record("-- copyd killed")
		}
	})
	var survived string
	var since int
	if live {
		d.waitWatching(filepath.Base(cc.src))
		survived, since = cc.checkPending()
	}
	time.Sleep(wait) // the moment of the crash: the workload, not synchronisation
	d.crash()
	killed.Store(true)
	if !live {
		if slices.ContainsFunc(d.log.lines(), match{msg: "watching"}.ok) {
			survived, since = cc.checkPending() // the pass was over: too late for the crash, not for this check
		} else {
			cc.inInitial++
		}
	}
	time.Sleep(down) // changes the next start finds
	if err := stop(); err != nil {
		cc.fail(first, what, fmt.Sprintf("the workload failed: %v", err))
	}
	if survived != "" {
		cc.fail(since, what, survived)
	}
	found := checkCrashed(t, cc.dst, kill,
		func(_ string, data []byte) bool {
			if cc.c.states.had(data) {
				return true
			}
			if cc.c.states.hadMidWrite(data) {
				cc.midWrite++
				return true
			}
			return false
		},
		func(target string) bool { return cc.c.states.targets[target] })
	cc.files += found.files
	cc.links += found.links
	cc.temps += len(found.temps)
	if len(found.temps) > 0 {
		cc.withTemps++
	}
	for _, p := range found.temps {
		if _, ok := cc.pending[p]; !ok {
			cc.pending[p] = kill
		}
	}
	if t.Failed() {
		cc.fail(first, what, "see the errors above")
	}
}

// goChurn runs the churner in a goroutine until the returned stop is
// called (at the latest when the test ends); stop returns the churner's
// error. between runs in the churner's goroutine before every operation.
func (cc *crashChurn) goChurn(between func()) (stop func() error) {
	var halt atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- cc.c.runWhile(func() bool {
			between()
			return !halt.Load()
		})
	}()
	stop = sync.OnceValue(func() error {
		halt.Store(true)
		return <-done
	})
	cc.t.Cleanup(func() { stop() }) // a test that fails meanwhile
	return stop
}

// checkPending looks for the temp files kills left once copyd has made its
// initial pass: it returns what survived ("" if nothing did), with the
// index of the first op of the earliest round involved, and forgets them.
func (cc *crashChurn) checkPending() (survived string, since int) {
	var b strings.Builder
	since = math.MaxInt // the churner may be running: no c.ops here
	for _, p := range slices.Sorted(maps.Keys(cc.pending)) {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		kill := cc.pending[p]
		since = min(since, cc.starts[kill])
		rel, _ := filepath.Rel(cc.dst, filepath.Dir(p))
		folder := "is gone from the source"
		if fi, err := os.Lstat(filepath.Join(cc.src, rel)); err == nil {
			folder = fmt.Sprintf("is in the source (%v)", fi.Mode())
		}
		fmt.Fprintf(&b, "\n  %s, left by kill %d, survived the next start's initial pass; its folder %s %s", p, kill, rel, folder)
	}
	clear(cc.pending)
	if b.Len() == 0 {
		return "", since
	}
	return "temp files left by kills are still there after the initial pass:" + b.String(), since
}

// converge starts copyd a last time (with --delete when mirror) while the
// churner runs a little longer, and checks what TestChurn checks once it
// has stopped: the destination catches up, copyd exits 0 on SIGTERM, and
// no temp file is left.
func (cc *crashChurn) converge(mirror bool) {
	t := cc.t
	t.Helper()
	first := len(cc.c.ops)
	churn := time.Duration(100+cc.rng.IntN(300)) * time.Millisecond
	cc.c.delete = mirror
	cc.c.record("-- last start: copyd run (delete=%v), %v of churn", mirror, churn)
	what := fmt.Sprintf("the last start (delete=%v)", mirror)
	d := startRun(t, nil, crashChurnArgs(mirror, cc.src, cc.dst)...)
	stop := cc.goChurn(func() {})
	d.waitWatching(filepath.Base(cc.src))
	survived, since := cc.checkPending()
	time.Sleep(churn)
	if err := stop(); err != nil {
		cc.fail(first, what, fmt.Sprintf("the workload failed: %v", err))
	}
	if survived != "" {
		cc.fail(since, what, survived)
	}
	var diffs []string
	if !churnPoll(d, func() bool { diffs = churnDiff(cc.src, cc.dst, mirror); return len(diffs) == 0 }) {
		cc.fail(first, what, fmt.Sprintf("destination still differs %v after the churn (copyd exited: %v):\n  %s", converged, d.exited(), strings.Join(diffs, "\n  ")))
	}
	d.stopOK(syscall.SIGTERM)
	if diffs := churnDiff(cc.src, cc.dst, mirror); len(diffs) > 0 {
		cc.fail(first, what, fmt.Sprintf("destination changed during shutdown:\n  %s", strings.Join(diffs, "\n  ")))
	}
	assertNoTemps(t, cc.dst)
}

// fail ends the test with the seed, the replay command, what went wrong
// and the churn ops since first (those of the rounds involved); the
// churner must be stopped.
func (cc *crashChurn) fail(first int, what, why string) {
	cc.t.Helper()
	ops := cc.c.ops[first:]
	if len(ops) > 400 {
		ops = append(append(slices.Clip(ops[:100]), fmt.Sprintf("  ... %d ops ...", len(ops)-400)), ops[len(ops)-300:]...)
	}
	cc.t.Fatalf("seed %d, %s: %s\nreplay: %s\nops since that round began:\n%s", cc.seed, what, why, cc.replay, strings.Join(ops, "\n"))
}

// crashChurnArgs are the arguments of `copyd run` in TestCrashDuringChurn:
// runPaths' with debug logs, which say what each copy, move and deletion
// did when a check fails.
func crashChurnArgs(mirror bool, src, dst string) []string {
	args := []string{"--log-format", "json", "--log-level", "debug", "--settle", "50ms"}
	if mirror {
		args = append(args, "--delete")
	}
	return append(args, src, dst)
}
