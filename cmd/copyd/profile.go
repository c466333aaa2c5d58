package main

import (
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile to $COPYD_CPUPROFILE while the command
// runs, for finding where time goes (see BENCHMARKS.md); the returned
// function stops it.
func startProfile() (stop func()) {
	path := os.Getenv("COPYD_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
