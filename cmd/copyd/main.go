// Command copyd keeps backup folders in step with their sources. See
// README.md and docs/ for the commands, or run "copyd help".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by every command.
const (
	exitOK     = 0 // success
	exitFailed = 1 // some files failed (each in the log), or the run failed
	exitUsage  = 2 // usage or config error
)

const usage = `copyd keeps backup folders in step with their sources.

Usage:
  copyd demo                                  watch copyd keep a sample library in step (temp folder)
  copyd run     [-c FILE | SRC DST] [flags]   copy, then keep copying changes until stopped
  copyd sync    [-c FILE | SRC DST] [flags]   copy once, then exit
  copyd check   [-c FILE | SRC DST]           validate the config and print the plan
  copyd status  [-c FILE | --status ADDR]     ask the running daemon and print a table per pair
  copyd service ACTION [flags]                manage copyd as a system service (see Service below)
  copyd version                               print the version

Flags (run and sync):
  -c, --config FILE       config file (default %s)
      --workers N         concurrent copies across all pairs
      --dry-run           print what would be copied or deleted, change nothing
      --delete            mirror deletions (remove destination files the source lacks)
      --exclude PATTERN   leave paths matching PATTERN alone (gitignore syntax; repeatable)
      --checksum          compare contents, not only size and modification time
      --fsync=BOOL        flush every file to disk before it counts as copied
      --log-level LEVEL   debug, info, warn or error
      --log-format FMT    text or json
      --progress WHEN     auto (on a terminal), always or never (sync)
      --settle DURATION   quiet time after a change before the file is copied (run; default 250ms)
      --max-delay DURATION  a file that keeps changing is copied at least this often (run; default 10s)
      --rescan DURATION   full rescan period that repairs drift, 0 = off (run; default 1h)
      --status ADDR       serve /healthz, /status and /metrics on ADDR (run; the config's
                          status: listen, 127.0.0.1:9471 by default; off for SRC DST)

copyd run stops on SIGINT or SIGTERM (copies in flight get 10 s to finish) and
reloads its config file on SIGHUP.

Service (systemd on Linux, launchd on macOS, the Windows service manager;
all but status and unit need root):
  copyd service install [-c FILE] [--user NAME]  register "copyd run -c FILE" (made absolute) to start at boot
  copyd service start | stop | restart           start, stop or restart the installed service
  copyd service status                           print running, stopped, failed or not installed
                                                 (exit 0 when running, 3 otherwise)
  copyd service uninstall                        stop the service and remove it (config and backups stay)
  copyd service unit [-c FILE] [--user NAME]     print the systemd unit copyd would install

Exit codes: 0 success, 1 some files failed (each is in the log), 2 usage or config error.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfile()
	stop()
	os.Exit(code)
}

// run executes one command line and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, defaultConfigPath())
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		// Under the Windows service manager the daemon runs through it.
		return runService(ctx, stderr, func(ctx context.Context) int { return cmdRun(ctx, rest, stdout, stderr) })
	case "service":
		return cmdService(rest, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "status":
		return cmdStatus(ctx, rest, stdout, stderr)
	case "sync":
		return cmdSync(ctx, rest, stdout, stderr)
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "copyd", version())
		return exitOK
	case "help", "-h", "--help", "-help":
		fmt.Fprintf(stdout, usage, defaultConfigPath())
		return exitOK
	}
	fmt.Fprintf(stderr, "copyd: unknown command %q; run \"copyd help\" for the list\n", cmd)
	return exitUsage
}

// usageError prints a one-line usage problem and returns exitUsage; a
// request for help (-h) prints the usage and returns exitOK.
func usageError(stdout, stderr io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, usage, defaultConfigPath())
		return exitOK
	}
	fmt.Fprintf(stderr, "copyd: %v\n", err)
	return exitUsage
}
