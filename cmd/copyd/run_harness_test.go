//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/internal/treetest"
)

// The harness of run_e2e_test.go: a daemon started from the real binary
// with JSON logs that tests can wait on, and small file helpers.
const (
	converged = 30 * time.Second // deadline for a change to arrive
	logWait   = 30 * time.Second // deadline for a log line
	stopWait  = 15 * time.Second // SIGTERM to exit, before we kill
)

// logBuffer collects the daemon's output; Write may race with readers.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logLine is one JSON log line; raw keeps the text for messages.
type logLine struct {
	attrs map[string]any
	raw   string
}

func (l logLine) get(key string) string {
	switch v := l.attrs[key].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// lines returns the complete lines written so far, parsed; a line that is
// not JSON (a panic, a message printed before the logger exists) keeps its
// text in raw and its msg empty.
func (l *logBuffer) lines() []logLine {
	text := l.String()
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	} else {
		return nil
	}
	var out []logLine
	for raw := range strings.SplitSeq(text, "\n") {
		ll := logLine{raw: raw}
		if json.Unmarshal([]byte(raw), &ll.attrs) != nil {
			ll.attrs = nil
		}
		out = append(out, ll)
	}
	return out
}

// match describes the log lines a test waits for.
type match struct {
	level string            // "INFO", "WARN", "ERROR"; "" any
	msg   string            // exact msg; "" any
	text  []string          // the raw line contains one of these; nil any
	attrs map[string]string // attribute values, compared as text
}

func (m match) ok(l logLine) bool {
	if l.attrs == nil ||
		m.level != "" && l.get("level") != m.level ||
		m.msg != "" && l.get("msg") != m.msg {
		return false
	}
	if m.text != nil && !slices.ContainsFunc(m.text, func(s string) bool { return strings.Contains(l.raw, s) }) {
		return false
	}
	for k, v := range m.attrs {
		if l.get(k) != v {
			return false
		}
	}
	return true
}

func (m match) String() string {
	s := fmt.Sprintf("level=%q msg=%q", m.level, m.msg)
	if m.text != nil {
		s += fmt.Sprintf(" text in %q", m.text)
	}
	if m.attrs != nil {
		s += fmt.Sprintf(" attrs %v", m.attrs)
	}
	return s
}

// daemon is one `copyd run` process.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{} // closed once the process has exited and its output is read
	code int           // exit code, valid once done is closed; -1 if killed by a signal
}

// startRun starts `copyd run args...` with the extra environment env.
// A cleanup stops it with SIGTERM (killing it if it does not exit within
// 15 s) and prints its log if the test failed.
func startRun(t *testing.T, env []string, args ...string) *daemon {
	t.Helper()
	return startRunVia(t, nil, env, args...)
}

// startRunVia is startRun with a command that execs copyd in the end (its
// PID stays copyd's, so signals reach it): via[0] via[1:]... copyd run args.
func startRunVia(t *testing.T, via []string, env []string, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	argv := append(append(slices.Clone(via), copydBin, "run"), args...)
	d := &daemon{
		t:    t,
		cmd:  exec.CommandContext(ctx, argv[0], argv[1:]...),
		log:  new(logBuffer),
		done: make(chan struct{}),
	}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.Env = append(os.Environ(), env...)
	if err := d.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start copyd run: %v", err)
	}
	go func() {
		err := d.cmd.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit):
			d.code = exit.ExitCode()
		default:
			d.code = -1
		}
		close(d.done)
	}()
	t.Cleanup(func() {
		if !d.exited() {
			d.stop(syscall.SIGTERM)
		}
		cancel()
		if t.Failed() {
			t.Logf("copyd run %q log:\n%s", args, d.log)
		}
	})
	return d
}

// runPaths starts `copyd run` on one pair with JSON logs and a short settle
// time, plus flags.
func runPaths(t *testing.T, src, dst string, flags ...string) *daemon {
	t.Helper()
	args := append([]string{"--log-format", "json", "--settle", "50ms"}, flags...)
	d := startRun(t, nil, append(args, src, dst)...)
	d.waitWatching(filepath.Base(src))
	return d
}

// runMirrored starts copyd with --delete on src and dst, waits until dst
// matches, and returns dst's entries below its root, for
// treetest.AssertUnchanged once the source is gone or empty.
func runMirrored(t *testing.T, src, dst string) (*daemon, map[string]treetest.Entry) {
	t.Helper()
	d := runPaths(t, src, dst, "--delete")
	d.converge(src, dst)
	before := treetest.List(t, dst)
	delete(before, ".")
	return d, before
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// waitFor polls cond like waitFor, and fails at once if copyd has exited.
func (d *daemon) waitFor(timeout time.Duration, cond func() error) {
	d.t.Helper()
	waitFor(d.t, timeout, func() error {
		err := cond()
		if err != nil && d.exited() {
			d.t.Fatalf("copyd exited with code %d while waiting: %v", d.code, err)
		}
		return err
	})
}

// mark returns the number of complete log lines so far, for waitLog.
func (d *daemon) mark() int { return len(d.log.lines()) }

// waitLog waits for a log line matching m among those after the first
// since lines, and returns it.
func (d *daemon) waitLog(since int, m match) logLine {
	d.t.Helper()
	var found logLine
	d.waitFor(logWait, func() error {
		lines := d.log.lines()
		for _, l := range lines[min(since, len(lines)):] {
			if m.ok(l) {
				found = l
				return nil
			}
		}
		return fmt.Errorf("no log line with %v", m)
	})
	return found
}

// waitWatchingSince waits for pair's "watching" line after the first since
// lines.
func (d *daemon) waitWatchingSince(since int, pair string) {
	d.t.Helper()
	d.waitLog(since, match{level: "INFO", msg: "watching", attrs: map[string]string{"pair": pair}})
}

// waitWatching waits for pair's first "watching" line.
func (d *daemon) waitWatching(pair string) { d.t.Helper(); d.waitWatchingSince(0, pair) }

// converge waits until dst matches src (see treetest.Diff).
func (d *daemon) converge(src, dst string, ignore ...string) {
	d.t.Helper()
	d.waitFor(converged, func() error { return treetest.Compare(src, dst, ignore...) })
}

// stop sends sig and waits for the exit, killing copyd after 15 s; it
// returns the exit code.
func (d *daemon) stop(sig os.Signal) int {
	d.t.Helper()
	if !d.exited() {
		d.cmd.Process.Signal(sig) // an error means it has just exited
	}
	select {
	case <-d.done:
	case <-time.After(stopWait):
		d.t.Errorf("copyd did not exit within %v of %v; killing it", stopWait, sig)
		d.cmd.Process.Kill()
		<-d.done
	}
	return d.code
}

// stopOK stops copyd with sig and checks the graceful exit: code 0 and a
// "stopped" line.
func (d *daemon) stopOK(sig os.Signal) {
	d.t.Helper()
	if code := d.stop(sig); code != 0 {
		d.t.Errorf("copyd exited with code %d after %v, want 0", code, sig)
	}
	if !slices.ContainsFunc(d.log.lines(), match{msg: "stopped"}.ok) {
		d.t.Errorf(`no "stopped" line in the log after %v`, sig)
	}
}

// finish checks the invariants at the end of a test: dst converges to
// src, copyd stops gracefully on SIGTERM, and then dst still matches and
// holds no temp file.
func (d *daemon) finish(src, dst string, ignore ...string) {
	d.t.Helper()
	d.converge(src, dst, ignore...)
	d.stopOK(syscall.SIGTERM)
	treetest.AssertTreesEqual(d.t, src, dst, ignore...)
	assertNoTemps(d.t, dst)
}

// dirs returns a source folder holding tree and a destination path that
// does not exist yet, side by side in a fresh temp dir (the source is
// named "src", which is the pair's name on the command line).
func dirs(t *testing.T, tree map[string]string) (base, src, dst string) {
	t.Helper()
	base = t.TempDir()
	src, dst = filepath.Join(base, "src"), filepath.Join(base, "dst")
	mkdir(t, src)
	writeTree(t, src, tree)
	return base, src, dst
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p, content string) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, p string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// assertContent fails unless the file p holds want.
func assertContent(t *testing.T, p, want string) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("%v", err)
	} else if string(got) != want {
		t.Errorf("%s = %q, want %q", p, got, want)
	}
}

// assertAbsent fails if p exists.
func assertAbsent(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (Lstat: %v), want it absent", p, err)
	}
}
