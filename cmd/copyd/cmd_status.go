package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/status"
)

// cmdStatus asks the running daemon (its status endpoint) and prints a
// table per pair: exit 0 when every pair is in step, at work or waiting
// for its source, 1 when the daemon does not answer or a pair needs
// attention (degraded, paused, or a path failing), 2 for usage or config
// errors.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var file, addr string
	fs.StringVar(&file, "c", "", "config file")
	fs.StringVar(&file, "config", "", "config file")
	fs.StringVar(&addr, "status", "", "status endpoint address")
	if err := fs.Parse(args); err != nil {
		return usageError(stdout, stderr, err)
	}
	if fs.NArg() > 0 {
		return usageError(stdout, stderr, fmt.Errorf("status takes no arguments, not %q", fs.Args()))
	}
	if addr == "" {
		if file == "" {
			file = defaultConfigPath()
		}
		cfg, err := config.Load(file)
		if cfg == nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		if cfg.Status.Listen == "" {
			fmt.Fprintf(stderr, "copyd: %s turns the status endpoint off (status: listen: \"\"); set an address there, restart copyd, and try again\n", cfg.File)
			return exitUsage
		}
		addr = cfg.Status.Listen
	}
	rep, err := fetchStatus(ctx, addr)
	if err != nil {
		fmt.Fprintf(stderr, "copyd is not running, or not answering on %s: %v\n", addr, err)
		return exitFailed
	}
	return printStatus(stdout, rep)
}

// fetchStatus reads the daemon's /status.
func fetchStatus(ctx context.Context, addr string) (status.Report, error) {
	var rep status.Report
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/status", nil)
	if err != nil {
		return rep, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return rep, fmt.Errorf("%s answered %s", addr, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return rep, fmt.Errorf("read the answer of %s: %w", addr, err)
	}
	return rep, nil
}

// printStatus prints the report as a table and returns the exit code.
func printStatus(w io.Writer, rep status.Report) int {
	code := exitOK
	ready := "ready"
	if !rep.Ready {
		ready = "starting"
	}
	fmt.Fprintf(w, "copyd %s, up since %s, %s\n\n", rep.Version, rep.Started.Local().Format("2006-01-02 15:04:05"), ready)
	if len(rep.Pairs) == 0 {
		fmt.Fprintln(w, "no pairs configured: nothing to do")
		return code
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PAIR\tSTATE\tFILES\tBYTES\tDELETED\tQUEUE\tWATCHES\tERRORS\tLAST FULL SYNC")
	var notes []string
	for _, p := range rep.Pairs {
		last := "-"
		if p.LastFullSync != nil {
			last = p.LastFullSync.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n", p.Name, p.State, p.FilesCopied, humanBytes(p.BytesCopied),
			p.Deleted, p.Queue, p.Watches, p.Errors, last)
		switch p.State {
		case "degraded":
			notes = append(notes, fmt.Sprintf("%s: degraded: not every folder is watched (watch limit); changes there arrive by rescans every minute. See the log for how to raise the limit.", p.Name))
		case "paused":
			notes = append(notes, fmt.Sprintf("%s: paused: the destination refuses writes (full or read-only); copyd resumes by itself once it takes writes.", p.Name))
		case "waiting":
			notes = append(notes, fmt.Sprintf("%s: waiting for its source %s to appear (is the disk mounted?).", p.Name, p.Source))
		}
		if p.LastError != nil {
			notes = append(notes, fmt.Sprintf("%s: last error %s: %s %q: %s", p.Name,
				p.LastError.Time.Local().Format("2006-01-02 15:04:05"), p.LastError.Op, p.LastError.Path, p.LastError.Error))
		}
		for _, f := range p.Failing {
			notes = append(notes, fmt.Sprintf("%s: failing since %s (%d attempts): %s %q: %s", p.Name,
				f.Since.Local().Format("2006-01-02 15:04:05"), f.Attempts, f.Op, f.Path, f.Error))
		}
	}
	tw.Flush()
	for _, p := range rep.Pairs {
		// waiting may be on purpose (a disk unplugged); a failing path is
		// not in the backup however long copyd retries it
		if p.State == "degraded" || p.State == "paused" || len(p.Failing) > 0 {
			code = exitFailed
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	return code
}
