//go:build unix

package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/internal/treetest"
)

// TestChurn runs `copyd run` while a seeded random workload (churner)
// mutates the source, then checks that the destination catches up: equal to
// the source with --delete (even seeds), holding at least the source
// without it (odd seeds); no temp file left; copyd still running.
//
// By default it runs seeds 1..20 for 2 s each. COPYD_CHURN_SEEDS=N runs
// seeds 1..N (the full run: 100), COPYD_CHURN_SEED=S seed S alone, and
// COPYD_CHURN_SECONDS the churn duration; COPYD_CHURN_ALL_OPS=1 lists
// every operation of a failing seed, COPYD_CHURN_DEBUG=1 has copyd log at
// debug level. Seeds run as parallel subtests,
// so -parallel (GOMAXPROCS by default) bounds how many daemons run at once.
func TestChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("churn runs the daemon for seconds per seed")
	}
	seeds := churnSeeds(t)
	churn := 2 * time.Second
	if s := os.Getenv("COPYD_CHURN_SECONDS"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f <= 0 {
			t.Fatalf("COPYD_CHURN_SECONDS=%q: want a positive number of seconds", s)
		}
		churn = time.Duration(f * float64(time.Second))
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			churnOne(t, seed, seed%2 == 0, churn)
		})
	}
}

func churnSeeds(t *testing.T) []uint64 {
	t.Helper()
	if s := os.Getenv("COPYD_CHURN_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COPYD_CHURN_SEED=%q: want a seed (an unsigned integer)", s)
		}
		return []uint64{seed}
	}
	n := uint64(20)
	if s := os.Getenv("COPYD_CHURN_SEEDS"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v == 0 {
			t.Fatalf("COPYD_CHURN_SEEDS=%q: want a number of seeds", s)
		}
		n = v
	}
	var seeds []uint64
	for s := uint64(1); s <= n; s++ {
		seeds = append(seeds, s)
	}
	return seeds
}

func churnOne(t *testing.T, seed uint64, mirror bool, churn time.Duration) {
	base := t.TempDir()
	src, dst, outside := filepath.Join(base, "src"), filepath.Join(base, "dst"), filepath.Join(base, "outside")
	mkdir(t, src)
	mkdir(t, outside)
	c := newChurner(seed, src, outside, mirror)
	if err := c.seed(); err != nil {
		t.Fatalf("seed %d: seeding the source: %v", seed, err)
	}
	var flags []string
	if mirror {
		flags = append(flags, "--delete")
	}
	if os.Getenv("COPYD_CHURN_DEBUG") != "" {
		flags = append(flags, "--log-level", "debug")
	}
	d := runPaths(t, src, dst, flags...)

	report := func(what string, diffs []string) {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, "seed %d (delete=%v, %v of churn): %s\n", seed, mirror, churn, what)
		fmt.Fprintf(&b, "replay: COPYD_CHURN_SEED=%d go test -run 'TestChurn/seed=%d$' ./cmd/copyd/\n", seed, seed)
		fmt.Fprintf(&b, "%d differences:\n", len(diffs))
		for _, s := range diffs[:min(50, len(diffs))] {
			fmt.Fprintf(&b, "  %s\n", s)
		}
		if len(diffs) > 50 {
			fmt.Fprintf(&b, "  ... and %d more\n", len(diffs)-50)
		}
		fmt.Fprintf(&b, "%d ops:\n", len(c.ops))
		if len(c.ops) <= 100 || os.Getenv("COPYD_CHURN_ALL_OPS") != "" {
			b.WriteString(strings.Join(c.ops, "\n"))
		} else {
			b.WriteString(strings.Join(c.ops[:50], "\n"))
			fmt.Fprintf(&b, "\n  ... %d ops ...\n", len(c.ops)-100)
			b.WriteString(strings.Join(c.ops[len(c.ops)-50:], "\n"))
		}
		t.Error(b.String())
	}

	if err := c.run(time.Now().Add(churn)); err != nil {
		report(fmt.Sprintf("the workload failed: %v", err), nil)
		return
	}

	t.Logf("seed %d (delete=%v): %d ops in %v", seed, mirror, len(c.ops), churn)

	var diffs []string
	settled := func() bool {
		diffs = churnDiff(src, dst, mirror)
		return len(diffs) == 0
	}
	if !churnPoll(d, settled) {
		if d.exited() {
			report(fmt.Sprintf("copyd exited with code %d", d.code), diffs)
		} else {
			report(fmt.Sprintf("destination still differs %v after the churn", converged), diffs)
		}
		return
	}
	// A barrier: once a file written now has arrived, whatever copyd had
	// queued before it has been handled too, so a late wrong write or
	// deletion would show up in the second comparison.
	sentinel := filepath.Join(src, "sentinel-after-churn")
	write(t, sentinel, fmt.Sprint(seed))
	arrived := func() bool {
		if _, err := os.Lstat(filepath.Join(dst, "sentinel-after-churn")); err != nil {
			diffs = []string{"sentinel-after-churn has not arrived"}
			return false
		}
		return settled()
	}
	if !churnPoll(d, arrived) {
		report("destination changed after it had caught up", diffs)
		return
	}
	if d.exited() {
		report(fmt.Sprintf("copyd exited with code %d", d.code), nil)
		return
	}
	d.stopOK(syscall.SIGTERM)
	if diffs := churnDiff(src, dst, mirror); len(diffs) > 0 {
		report("destination changed during shutdown", diffs)
	}
}

// churnPoll polls ok every 10 ms until it holds, for up to converged; it
// gives up early if copyd exits.
func churnPoll(d *daemon, ok func() bool) bool {
	deadline := time.Now().Add(converged)
	for {
		if ok() {
			return true
		}
		if d.exited() || time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// churnDiff returns how dst falls short of src: treetest.Diff when mirror
// is set; otherwise only source paths missing or different in dst (dst
// may hold more). Temp files in dst are differences either way.
func churnDiff(src, dst string, mirror bool) []string {
	var diffs []string
	if mirror {
		d, err := treetest.Diff(src, dst)
		if err != nil {
			return []string{err.Error()}
		}
		diffs = d
	} else {
		d, err := churnSubset(src, dst)
		if err != nil {
			return []string{err.Error()}
		}
		diffs = d
	}
	temps, err := treetest.Temps(dst)
	if err != nil {
		diffs = append(diffs, fmt.Sprintf("walk %s for temp files: %v", dst, err))
	}
	for _, p := range temps {
		diffs = append(diffs, fmt.Sprintf("temp file left behind: %q", p))
	}
	return diffs
}

// churnSubset is treetest.Diff without the "in destination but not in
// source" differences.
func churnSubset(src, dst string) ([]string, error) {
	want, err := treetest.ReadTree(src)
	if err != nil {
		return nil, fmt.Errorf("read source tree: %w", err)
	}
	got, err := treetest.ReadTree(dst)
	if err != nil {
		return nil, fmt.Errorf("read destination tree: %w", err)
	}
	var diffs []string
	for _, rel := range slices.Sorted(maps.Keys(want)) {
		w := want[rel]
		g, ok := got[rel]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%q missing in destination", rel))
		case w.Type != g.Type:
			diffs = append(diffs, fmt.Sprintf("%q: type %v, want %v", rel, g.Type, w.Type))
		default:
			if w.Perm != g.Perm {
				diffs = append(diffs, fmt.Sprintf("%q: mode %v, want %v", rel, g.Perm, w.Perm))
			}
			if !w.Mtime.Equal(g.Mtime) {
				diffs = append(diffs, fmt.Sprintf("%q: mtime %v, want %v", rel, g.Mtime, w.Mtime))
			}
			if !bytes.Equal(w.Content, g.Content) {
				diffs = append(diffs, fmt.Sprintf("%q: content or target differs (%d bytes, want %d)", rel, len(g.Content), len(w.Content)))
			}
		}
	}
	return diffs, nil
}
