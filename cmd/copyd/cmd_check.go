package main

import (
	"fmt"
	"io"
)

// cmdCheck validates the config and prints the plan: exit 0, or every
// problem and exit 2.
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
	if err := cfg.WritePlan(stdout); err != nil {
		fmt.Fprintf(stderr, "copyd: %v\n", err)
		return exitFailed
	}
	return exitOK
}
