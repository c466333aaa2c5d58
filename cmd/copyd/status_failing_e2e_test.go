//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/status"
)

// TestStatusExitCode gives copyd status the reports of daemons in every
// condition it tells apart: a script or a monitoring check must see a
// failing path in the exit code, as it sees a degraded or paused pair,
// and 0 when all is well (a pair waiting for its source included).
func TestStatusExitCode(t *testing.T) {
	t.Parallel()
	failing := []status.FailingReport{{Path: "secret.txt", Op: "copy", Error: "permission denied", Since: time.Unix(1000, 0), Last: time.Unix(2000, 0), Attempts: 7}}
	tests := []struct {
		name  string
		pairs []status.PairReport
		want  int
	}{
		{"no pairs", nil, exitOK},
		{"watching", []status.PairReport{{Name: "docs", State: "watching"}}, exitOK},
		{"scanning", []status.PairReport{{Name: "docs", State: "scanning"}}, exitOK},
		{"waiting for its source", []status.PairReport{{Name: "usb", State: "waiting"}}, exitOK},
		{"an error long past, nothing failing now", []status.PairReport{{Name: "docs", State: "watching", Errors: 3,
			LastError: &status.ErrorReport{Time: time.Unix(1000, 0), Op: "copy", Path: "a", Error: "permission denied"}}}, exitOK},
		{"degraded", []status.PairReport{{Name: "docs", State: "degraded"}}, exitFailed},
		{"paused", []status.PairReport{{Name: "docs", State: "paused"}}, exitFailed},
		{"a path failing", []status.PairReport{{Name: "docs", State: "watching", Failing: failing}}, exitFailed},
		{"a path failing in the second pair", []status.PairReport{{Name: "docs", State: "watching"}, {Name: "usb", State: "copying", Failing: failing}}, exitFailed},
		{"a path failing while the pair waits", []status.PairReport{{Name: "usb", State: "waiting", Failing: failing}}, exitFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep := status.Report{Version: "test", Started: time.Unix(1000, 0), Ready: true, Pairs: tt.pairs}
			if got := printStatus(io.Discard, rep); got != tt.want {
				t.Errorf("printStatus(%+v) = %d, want %d", tt.pairs, got, tt.want)
			}
		})
	}
}

// statusFailing returns the daemon's report of rel failing in its only
// pair, once it lists it.
func statusFailing(d *daemon, addr, rel string) status.FailingReport {
	d.t.Helper()
	var got status.FailingReport
	d.waitFor(converged, func() error {
		rep, err := fetchStatus(d.t.Context(), addr)
		if err != nil {
			return err
		}
		if len(rep.Pairs) != 1 {
			return fmt.Errorf("status lists %d pairs, want 1", len(rep.Pairs))
		}
		i := slices.IndexFunc(rep.Pairs[0].Failing, func(f status.FailingReport) bool { return f.Path == rel })
		if i < 0 {
			return fmt.Errorf("status lists %+v as failing, not %s", rep.Pairs[0].Failing, rel)
		}
		got = rep.Pairs[0].Failing[i]
		return nil
	})
	return got
}

// asNobody returns the command prefix that runs copyd as the unprivileged
// user (root may set any folder's times and read any file), or skips.
func asNobody(t *testing.T) []string {
	t.Helper()
	cred := nobody(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is not on PATH; it runs copyd as the unprivileged user")
	}
	return []string{"setpriv", "--reuid=" + itoa(cred.Uid), "--regid=" + itoa(cred.Gid), "--clear-groups"}
}

// TestStatusFailingFolderKeepsSinceAcrossRestart runs copyd as an
// unprivileged user on a destination folder root owns, whose times it
// cannot set: the folder fails ("set folder metadata"), and after a
// restart copyd status must still say since when it fails, the time of
// the first run, with the attempts of both runs. The restart's first pass
// reads the folder again; that must not count as its recovery.
func TestStatusFailingFolderKeepsSinceAcrossRestart(t *testing.T) {
	t.Parallel()
	via := asNobody(t)
	base := worldDir(t)
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	writeTree(t, src, map[string]string{"ok.txt": "fine"})
	mkdir(t, filepath.Join(src, "a"))
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "a"), old, old); err != nil {
		t.Fatal(err)
	}
	mkdir(t, dst)
	mkWorldWritable(t, base)
	mkdir(t, filepath.Join(dst, "a")) // root's, after the chown: copyd may list it, not set its mtime
	addr := ixtFreeAddr(t)
	start := func() *daemon {
		t.Helper()
		d := startRunVia(t, via, nil, "--log-format", "json", "--settle", "50ms", "--status", addr, src, dst)
		d.waitWatching("src")
		return d
	}
	failed := match{level: "WARN", msg: "set folder metadata failed; will retry", attrs: map[string]string{"path": "a"}}

	d := start()
	d.waitLog(0, failed)
	before := statusFailing(d, addr, "a")
	d.stopOK(syscall.SIGTERM)

	d = start() // its first pass has read and tried a again
	d.waitLog(0, match{level: "INFO", msg: "retrying the paths that failed before the restart", attrs: map[string]string{"paths": "1"}})
	after := statusFailing(d, addr, "a")
	if !after.Since.Equal(before.Since) || after.Attempts <= before.Attempts {
		t.Errorf("after the restart a is failing since %v, %d attempts; want since %v (the first run's) and more than the %d attempts before",
			after.Since, after.Attempts, before.Since, before.Attempts)
	}
	if n := d.countLog(match{msg: "recovered", attrs: map[string]string{"path": "a"}}); n != 0 {
		t.Errorf("the restart logged a as recovered %d times, but it never worked:\n%s", n, d.log)
	}
	if r := copyd(t, "status", "--status", addr); r.code != exitFailed {
		t.Errorf("copyd status while a fails: %s\nwant exit 1", r)
	}
	d.stopOK(syscall.SIGTERM)
}

// TestStatusRestartCountsFailingPathOnce restarts copyd (as an
// unprivileged user) on a source with one unreadable file: the start
// retries it before its first pass, and the pass meets it again; the
// watching line must count it once (failed=1), as the first start did.
func TestStatusRestartCountsFailingPathOnce(t *testing.T) {
	t.Parallel()
	via := asNobody(t)
	base := worldDir(t)
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	writeTree(t, src, map[string]string{"ok.txt": "fine", "secret.txt": "hidden"})
	mkWorldWritable(t, base)
	chmod(t, filepath.Join(src, "secret.txt"), 0o000)
	addr := ixtFreeAddr(t)
	start := func() *daemon {
		t.Helper()
		return startRunVia(t, via, nil, "--log-format", "json", "--settle", "50ms", "--status", addr, src, dst)
	}
	watching := match{level: "INFO", msg: "watching", attrs: map[string]string{"pair": "src"}}

	d := start()
	if got := d.waitLog(0, watching).get("failed"); got != "1" {
		t.Errorf("first start: watching line says failed=%s, want 1 (secret.txt)", got)
	}
	d.stopOK(syscall.SIGTERM)

	d = start()
	d.waitLog(0, match{level: "INFO", msg: "retrying the paths that failed before the restart", attrs: map[string]string{"paths": "1"}})
	if got := d.waitLog(0, watching).get("failed"); got != "1" {
		t.Errorf("after the restart: watching line says failed=%s, want 1: secret.txt is one failing path\n%s", got, d.log)
	}
	if r := copyd(t, "status", "--status", addr); r.code != exitFailed {
		t.Errorf("copyd status while secret.txt fails: %s\nwant exit 1", r)
	}
	d.stopOK(syscall.SIGTERM)
}
