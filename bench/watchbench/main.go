//go:build unix

// Command watchbench measures copyd's watcher alone on a tree: the time
// to watch it, the watches, memory, and how fast it reports a burst of
// new files. It is not part of copyd; bench/watch.sh runs it, built from
// this commit and from an older one, on the same tree.
//
//	watchbench -dir D [-n 100000 -dirs 1000 -timeout 5m -trash T]
//
// It starts watcher.New on D and prints start_s (until New returned),
// watches, rss_mib (VmRSS once watching), heap_mib (live heap after a GC);
// then creates -n empty files spread over -dirs new folders it makes
// first below D/watchbench-burst, counts the Changed events of those
// files, and prints events (how many arrived), create_s (the creates),
// lag_ms (last create to last event: 0 when the watcher kept up),
// cpu_s (the process's CPU time over the burst: the creates cost both
// builds the same, the rest is the watcher's), events_per_s and rescans
// (queue overflows). It then moves the burst folder into T (default: it
// removes it; removing many files slows the next creates on ext4).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/copyd/copyd/watcher"
)

func main() {
	dir := flag.String("dir", "", "tree to watch")
	n := flag.Int("n", 100_000, "files to create in the burst")
	dirs := flag.Int("dirs", 1000, "folders the burst's files are spread over")
	timeout := flag.Duration("timeout", 5*time.Minute, "how long to wait for the burst's events")
	trash := flag.String("trash", "", "folder to move the burst into at the end (default: remove it)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "watchbench: -dir is required")
		os.Exit(2)
	}
	burst := filepath.Join(*dir, "watchbench-burst")
	var changed, rescans atomic.Int64
	var last atomic.Int64 // unix ns of the last burst event
	prefix := "watchbench-burst/"
	ctx := context.Background()
	t0 := time.Now()
	w, err := watcher.New(ctx, watcher.Options{Root: *dir, Notify: func(ev watcher.Event) {
		switch {
		case ev.Kind == watcher.Rescan:
			rescans.Add(1)
		case ev.Kind == watcher.Changed && strings.HasPrefix(ev.Rel, prefix) && strings.Count(ev.Rel, "/") == 2:
			changed.Add(1)
			last.Store(time.Now().UnixNano())
		}
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "watchbench:", err)
		os.Exit(1)
	}
	start := time.Since(t0)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("start_s=%.2f watches=%d rss_mib=%.1f heap_mib=%.1f\n",
		start.Seconds(), w.Watches(), float64(rss())/(1<<20), float64(ms.HeapAlloc)/(1<<20))

	// The burst: folders first (their DirAdded), then the files.
	for i := range *dirs {
		if err := os.MkdirAll(filepath.Join(burst, fmt.Sprintf("b%04d", i)), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "watchbench:", err)
			os.Exit(1)
		}
	}
	time.Sleep(time.Second) // let the folders' watches be placed: the burst is about files
	cpu0 := cpuTime()
	b0 := time.Now()
	for i := range *n {
		f, err := os.Create(filepath.Join(burst, fmt.Sprintf("b%04d", i%*dirs), fmt.Sprintf("f%06d", i)))
		if err != nil {
			fmt.Fprintln(os.Stderr, "watchbench:", err)
			os.Exit(1)
		}
		f.Close()
	}
	created := time.Now()
	deadline := time.Now().Add(*timeout)
	for changed.Load() < int64(*n) && rescans.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cpu := cpuTime() - cpu0
	burstDur := time.Duration(last.Load() - b0.UnixNano())
	if burstDur <= 0 {
		burstDur = time.Since(b0)
	}
	lag := max(time.Duration(last.Load()-created.UnixNano()), 0)
	fmt.Printf("events=%d create_s=%.2f lag_ms=%.0f cpu_s=%.2f events_per_s=%.0f rescans=%d hwm_mib=%.1f\n",
		changed.Load(), created.Sub(b0).Seconds(), float64(lag)/float64(time.Millisecond), cpu.Seconds(),
		float64(changed.Load())/burstDur.Seconds(), rescans.Load(), float64(hwm())/(1<<20))
	w.Close()
	if *trash != "" {
		if err := os.Rename(burst, filepath.Join(*trash, fmt.Sprintf("burst-%d", time.Now().UnixNano()))); err == nil {
			return
		}
	}
	os.RemoveAll(burst)
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss and hwm read VmRSS and VmHWM (peak) from /proc/self/status.
func rss() int64 { return status("VmRSS:") }
func hwm() int64 { return status("VmHWM:") }

func status(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), key) {
			var kb int64
			fmt.Sscan(strings.TrimPrefix(s.Text(), key), &kb)
			return kb << 10
		}
	}
	return 0
}
