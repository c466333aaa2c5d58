package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/copyd/copyd/remote"
)

// cmdCheck validates the config, connects to every remote destination
// and prints the plan: exit 0, or every problem and exit 2.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	f, pos, err := parseCommon("check", args)
	if err != nil {
		return usageError(stdout, stderr, err)
	}
	cfg, err := f.loadConfig(pos)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	bad := false
	for _, p := range cfg.Pairs {
		if !p.Remote() {
			continue
		}
		// A wrong key, a missing bucket or an unknown host key is a
		// config problem the user must fix: said in one sentence here,
		// not found at run time.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		d, err := remote.Connect(ctx, p)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "%s: pair %s: %v\n", where(cfg.File), p.Name, err)
			bad = true
			continue
		}
		d.Close()
	}
	if bad {
		return exitUsage
	}
	if err := cfg.WritePlan(stdout); err != nil {
		fmt.Fprintf(stderr, "copyd: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// where names the config in messages ("the command line" for SRC DST).
func where(file string) string {
	if file == "" {
		return "the command line"
	}
	return file
}
