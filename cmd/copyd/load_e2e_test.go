//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/copyd/copyd/internal/treetest"
)

// TestRunLoad creates files as fast as one writer can while copyd runs,
// spread over new folders, and checks that every one arrives (a lost
// event may become a rescan, never a lost file) and reports the daemon's
// peak memory. COPYD_LOAD_FILES sets the count (default 5,000; the full
// reliability run uses 200,000).
func TestRunLoad(t *testing.T) {
	t.Parallel()
	n := 5000
	if s := os.Getenv("COPYD_LOAD_FILES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("COPYD_LOAD_FILES=%q is not a positive number", s)
		}
		n = v
	}
	_, src, dst := dirs(t, nil)
	d := runPaths(t, src, dst, "--fsync=false")
	start := time.Now()
	for i := range n {
		dir := filepath.Join(src, fmt.Sprintf("d%03d", i/1000))
		if i%1000 == 0 {
			mkdir(t, dir)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%06d", i)), []byte(strconv.Itoa(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	written := time.Since(start)
	d.waitFor(5*time.Minute, func() error { return treetest.Compare(src, dst) })
	hwm := peakRSS(t, d.cmd.Process.Pid)
	rescans := strings.Count(d.log.String(), "events lost, rescanning")
	t.Logf("%d files written in %v, all in the destination after %v; copyd peak RSS %s; %d rescans after lost events",
		n, written.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), hwm, rescans)
	d.finish(src, dst)
}

// peakRSS reads a process's peak resident memory (VmHWM).
func peakRSS(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
