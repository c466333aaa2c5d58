//go:build unix

package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fakeSystemd lets the real binary install and control its service in a
// private mount namespace: /run/systemd/system exists there, a temp folder
// stands in for /etc/systemd/system, and a fake systemctl first in PATH
// logs its calls and keeps the unit's state in a file.
type fakeSystemd struct {
	etc, bin, log, state string
}

const fakeSystemctl = `#!/bin/sh
echo "$*" >>"$FAKE_SYSTEMCTL_LOG"
state=$(cat "$FAKE_SYSTEMCTL_STATE" 2>/dev/null || echo inactive)
case "$1" in
is-active) echo "$state"; [ "$state" = active ] && exit 0; exit 3 ;;
list-unit-files) [ -e /etc/systemd/system/copyd.service ] && echo "copyd.service enabled enabled" ;;
start|restart) echo active >"$FAKE_SYSTEMCTL_STATE" ;;
stop) echo inactive >"$FAKE_SYSTEMCTL_STATE" ;;
esac
exit 0
`

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs Linux and root for a private mount namespace; run the tests as root (CI does)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	if fi, err := os.Stat("/etc/systemd/system"); err != nil || !fi.IsDir() {
		t.Skip("/etc/systemd/system does not exist to be covered (apt-get install systemd)")
	}
	dir := t.TempDir()
	f := &fakeSystemd{
		etc:   filepath.Join(dir, "etc"),
		bin:   filepath.Join(dir, "bin"),
		log:   filepath.Join(dir, "systemctl.log"),
		state: filepath.Join(dir, "state"),
	}
	for _, d := range []string{f.etc, f.bin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.bin, "systemctl"), []byte(fakeSystemctl), 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

// copyd runs the binary in the fake systemd's namespace.
func (f *fakeSystemd) copyd(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const script = `mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && mount --bind "$FAKE_ETC" /etc/systemd/system && exec "$@"`
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", copydBin)
	cmd.Args = append(cmd.Args, args...)
	cmd.Env = append(os.Environ(), "PATH="+f.bin+":"+os.Getenv("PATH"), "FAKE_ETC="+f.etc,
		"FAKE_SYSTEMCTL_LOG="+f.log, "FAKE_SYSTEMCTL_STATE="+f.state)
	return runCommand(t, cmd, args)
}

// calls returns the systemctl calls since the last time and forgets them.
func (f *fakeSystemd) calls(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(f.log)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	os.Remove(f.log)
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// TestServiceLifecycle installs, starts, stops and uninstalls copyd through
// kardianos/service against a fake systemctl: what systemd itself would do
// cannot run here (systemd is not PID 1), but the unit file kardianos
// writes, the systemctl calls and copyd's messages and exit codes can be
// checked.
func TestServiceLifecycle(t *testing.T) {
	t.Parallel()
	f := newFakeSystemd(t)
	dir := t.TempDir()
	cfg := serviceYAML(t, filepath.Join(dir, "config.yaml"), dir, filepath.Join(dir, "..", "backup"))
	unitFile := filepath.Join(f.etc, "copyd.service")
	steps := []struct {
		name       string
		args       []string
		state      string // written to the fake's state file first, if not ""
		wantCode   int
		wantOut    []string // substrings of stdout
		wantErr    string   // substring of stderr
		wantCalls  []string // systemctl calls, in order, that must be among its calls
		wantUnitOK bool     // the unit file exists afterwards
	}{
		{"status before install", []string{"status"}, "", exitNotRunning, []string{"not installed\n"}, "", []string{"is-active copyd.service"}, false},
		{"start before install", []string{"start"}, "", exitFailed, nil, "copyd is not installed as a service; install it with copyd service install -c FILE", nil, false},
		{"install", []string{"install", "-c", cfg}, "", exitOK, []string{
			"installed /etc/systemd/system/copyd.service; it starts at boot and restarts after a failure\n",
			"  runs:  " + copydBin + " run -c " + cfg + "\n",
			"next:   copyd service start\n",
			"logs:   journalctl -u copyd -f\n",
		}, "", []string{"enable copyd.service", "daemon-reload"}, true},
		{"install again", []string{"install", "-c", cfg}, "", exitFailed, nil, alreadyInstalled, nil, true},
		{"status installed", []string{"status"}, "", exitNotRunning, []string{"stopped\n"}, "", nil, true},
		{"stop when stopped", []string{"stop"}, "", exitOK, []string{"copyd is not running\n"}, "", nil, true},
		{"start", []string{"start"}, "", exitOK, []string{"started copyd\n"}, "", []string{"start copyd.service"}, true},
		{"status running", []string{"status"}, "", exitOK, []string{"running\n"}, "", nil, true},
		{"start when running", []string{"start"}, "", exitOK, []string{"copyd is already running"}, "", nil, true},
		{"restart", []string{"restart"}, "", exitOK, []string{"restarted copyd\n"}, "", []string{"restart copyd.service"}, true},
		{"uninstall stops first", []string{"uninstall"}, "", exitOK, []string{"stopped copyd\n", "removed /etc/systemd/system/copyd.service"}, "",
			[]string{"stop copyd.service", "disable copyd.service", "daemon-reload"}, false},
		{"status after uninstall", []string{"status"}, "", exitNotRunning, []string{"not installed\n"}, "", nil, false},
		{"uninstall again", []string{"uninstall"}, "", exitFailed, nil, "copyd is not installed as a service", nil, false},
		{"install as a user", []string{"install", "-c", cfg, "--user", "nobody"}, "", exitOK, []string{"  as:    nobody\n"}, "", nil, true},
		{"status failed", []string{"status"}, "failed", exitNotRunning, []string{"failed\n"}, "copyd stopped with an error; its log says why: journalctl -u copyd -f", nil, true},
	}
	for _, st := range steps {
		if st.state != "" {
			if err := os.WriteFile(f.state, []byte(st.state+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		r := f.copyd(t, append([]string{"service"}, st.args...)...)
		calls := f.calls(t)
		if r.code != st.wantCode || !strings.Contains(r.stderr, st.wantErr) {
			t.Errorf("%s: copyd service %q: got %s\nwant exit %d and stderr containing %q", st.name, st.args, r, st.wantCode, st.wantErr)
		}
		for _, want := range st.wantOut {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s: stdout lacks %q:\n%s", st.name, want, r)
			}
		}
		i := 0
		for _, c := range calls {
			if i < len(st.wantCalls) && c == st.wantCalls[i] {
				i++
			}
		}
		if i < len(st.wantCalls) {
			t.Errorf("%s: systemctl calls %q lack %q (in this order)", st.name, calls, st.wantCalls)
		}
		if _, err := os.Stat(unitFile); (err == nil) != st.wantUnitOK {
			t.Errorf("%s: unit file exists = %v, want %v", st.name, err == nil, st.wantUnitOK)
		}
		if st.name == "install" {
			// kardianos/service wrote exactly the unit copyd service unit prints.
			got, err := os.ReadFile(unitFile)
			if err != nil {
				t.Fatal(err)
			}
			if want := copyd(t, "service", "unit", "-c", cfg); want.code != 0 || string(got) != want.stdout {
				t.Errorf("installed unit differs from copyd service unit:\n%s\nwant:\n%s", got, want)
			}
		}
	}
	if t.Failed() {
		unit, _ := os.ReadFile(unitFile)
		t.Logf("unit file:\n%s", unit)
	}
}
