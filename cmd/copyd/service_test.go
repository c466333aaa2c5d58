package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kardianos/service"
)

func TestServiceSystemdUnit(t *testing.T) {
	t.Parallel()
	// Settings every unit has, line by line.
	common := []string{
		"Description=Keeps backup folders in step with their sources",
		"Type=notify",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"Restart=on-failure",
		"RestartSec=5s",
		"RestartPreventExitStatus=2",
		"TimeoutStopSec=20s",
		"KillMode=mixed",
		"StandardError=journal",
		"NoNewPrivileges=yes",
		"ProtectKernelTunables=yes",
		"ProtectKernelModules=yes",
		"ProtectControlGroups=yes",
		"RestrictRealtime=yes",
		"LockPersonality=yes",
		"SystemCallArchitectures=native",
		"WantedBy=multi-user.target",
	}
	tests := []struct {
		name, exe, config, user string
		want                    []string // lines besides common
		wantNo                  []string // line prefixes that must not appear
	}{
		{"plain", "/usr/bin/copyd", "/etc/copyd/config.yaml", "",
			[]string{"ExecStart=/usr/bin/copyd run -c /etc/copyd/config.yaml"},
			[]string{"User="}},
		{"as a user", "/usr/local/bin/copyd", "/srv/backup/config.yaml", "backup",
			[]string{"ExecStart=/usr/local/bin/copyd run -c /srv/backup/config.yaml", "User=backup"}, nil},
		{"spaces and non-ASCII", "/opt/my tools/copyd", "/srv/python教学视频/config.yaml", "",
			[]string{`ExecStart="/opt/my tools/copyd" run -c "/srv/python教学视频/config.yaml"`}, nil},
		{"specifiers, variables, quotes, template braces", "/opt/100% {{x}} $HOME/copyd", `/c/$HOME/"{{x}}"/a\b.yaml`, "",
			[]string{`ExecStart="/opt/100%% \x7b\x7bx}} $HOME/copyd" run -c "/c/$$HOME/\"\x7b\x7bx}}\"/a\\b.yaml"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			unit, err := systemdUnit(tt.exe, []string{"run", "-c", tt.config}, tt.user)
			if err != nil {
				t.Fatalf("systemdUnit() error = %v", err)
			}
			lines := strings.Split(unit, "\n")
			for _, want := range append(slices.Clone(common), tt.want...) {
				if !slices.Contains(lines, want) {
					t.Errorf("systemdUnit() lacks the line %s:\n%s", want, unit)
				}
			}
			for _, no := range append([]string{"RestartSec=120", "ProtectSystem=", "ProtectHome=", "PrivateTmp="}, tt.wantNo...) {
				if slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, no) }) {
					t.Errorf("systemdUnit() has a line %s...:\n%s", no, unit)
				}
			}
			// kardianos/service renders SystemdScript as a template: without
			// "{{" it writes the unit unchanged.
			if strings.Contains(unit, "{{") {
				t.Errorf("systemdUnit() contains {{:\n%s", unit)
			}
		})
	}
}

// TestServiceSystemdUnitVerify has systemd itself check the unit, and that
// ExecStart names the program file after unquoting (systemd-analyze verify
// fails when the command is not an executable file).
func TestServiceSystemdUnitVerify(t *testing.T) {
	t.Parallel()
	analyze := systemdAnalyze(t)
	tests := []struct{ name, dir, user string }{
		{"plain", "bin", ""},
		{"as root", "bin", "root"},
		{"path with space, percent, braces, dollar, non-ASCII", "my tools %1 {{x}} $HOME 教学", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			exe := filepath.Join(dir, tt.dir, "copyd")
			if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			unit := filepath.Join(dir, "copyd.service")
			text, err := systemdUnit(exe, []string{"run", "-c", filepath.Join(dir, tt.dir, "config.yaml")}, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			verifyUnit(t, analyze, unit)
		})
	}
}

// systemdAnalyze returns the path of systemd-analyze or skips the test.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("systemd units are checked on Linux only")
	}
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd), so the unit is not checked by systemd")
	}
	return p
}

// verifyUnit runs systemd-analyze verify on unit and fails on an error or
// on any remark about the unit's own lines (systemd only warns about an
// unknown setting or value, with exit status 0).
func verifyUnit(t *testing.T, analyze, unit string) {
	t.Helper()
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || strings.Contains(string(out), filepath.Base(unit)+":") {
		text, _ := os.ReadFile(unit)
		t.Errorf("systemd-analyze verify: %v\n%s\nunit:\n%s", err, out, text)
	}
}

func TestServiceSystemdWord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		arg  bool // an argument, not the program's path
		want string
	}{
		{"/usr/bin/copyd", false, "/usr/bin/copyd"},
		{"run", true, "run"},
		{"-c", true, "-c"},
		{"/a/b-c_d.e+f,g:h@i=j", true, "/a/b-c_d.e+f,g:h@i=j"},
		{"", true, `""`},
		{"/a b", true, `"/a b"`},
		{"/a'b", true, `"/a'b"`},
		{`/a"b`, true, `"/a\"b"`},
		{`/a\b`, true, `"/a\\b"`},
		{"/50%", true, `"/50%%"`},
		{"/50%", false, `"/50%%"`},
		{"/$HOME", true, `"/$$HOME"`},
		{"/$HOME", false, `"/$HOME"`},
		{"/{{x}}", true, `"/\x7b\x7bx}}"`},
		{"/a\tb\nc", true, `"/a\x09b\x0ac"`},
		{"/données", true, `"/données"`},
	}
	for _, tt := range tests {
		if got := systemdWord(tt.in, tt.arg); got != tt.want {
			t.Errorf("systemdWord(%q, %v) = %s, want %s", tt.in, tt.arg, got, tt.want)
		}
	}
}

func TestServiceSystemdUnitRefusesProgramPath(t *testing.T) {
	t.Parallel()
	for _, exe := range []string{`/opt/it's/copyd`, `/opt/"q"/copyd`, `/opt/a\b/copyd`, "/opt/a\nb/copyd"} {
		unit, err := systemdUnit(exe, []string{"run"}, "")
		if err == nil || !strings.Contains(err.Error(), "systemd cannot run a program whose path contains") {
			t.Errorf("systemdUnit(%q) = %q, %v; want an error", exe, unit, err)
		}
	}
}

func TestServiceShellQuote(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"/usr/bin/copyd", "/usr/bin/copyd"},
		{"/srv/python教学视频/config.yaml", "/srv/python教学视频/config.yaml"},
		{"/a b", "'/a b'"},
		{"/it's", `'/it'\''s'`},
		{"", "''"},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestServiceProgram drives the program the way kardianos/service does:
// Start, then (after RunWait) Stop.
func TestServiceProgram(t *testing.T) {
	t.Parallel()
	t.Run("stop cancels and waits", func(t *testing.T) {
		t.Parallel()
		started := make(chan struct{})
		p := newProgram(t.Context(), func(ctx context.Context) int {
			close(started)
			<-ctx.Done()
			return 0
		}, time.Minute)
		if err := p.Start(nil); err != nil {
			t.Fatal(err)
		}
		<-started
		if err := p.Stop(nil); err != nil {
			t.Fatalf("Stop() error = %v, want nil", err)
		}
		select {
		case <-p.done:
		default:
			t.Fatal("Stop() returned before the daemon function")
		}
		if p.code != 0 {
			t.Errorf("code = %d, want 0", p.code)
		}
	})
	t.Run("stop gives up after the grace period", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		p := newProgram(t.Context(), func(context.Context) int { <-release; return 0 }, 10*time.Millisecond)
		p.Start(nil)
		err := p.Stop(nil)
		close(release)
		if err == nil || !strings.Contains(err.Error(), "did not stop within 10ms") {
			t.Errorf("Stop() error = %v, want one about the grace period", err)
		}
		<-p.done
	})
	t.Run("wait ends when the daemon fails by itself", func(t *testing.T) {
		t.Parallel()
		p := newProgram(t.Context(), func(context.Context) int { return exitFailed }, time.Minute)
		p.Start(nil)
		p.wait(t.Context()) // returns once the daemon function did
		if err := p.Stop(nil); err != nil {
			t.Fatalf("Stop() error = %v, want nil", err)
		}
		if p.code != exitFailed {
			t.Errorf("code = %d, want %d", p.code, exitFailed)
		}
	})
	t.Run("wait ends when the signal context does", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		p := newProgram(ctx, func(ctx context.Context) int { <-ctx.Done(); return 0 }, time.Minute)
		p.Start(nil)
		cancel()
		p.wait(ctx)
		if err := p.Stop(nil); err != nil {
			t.Fatalf("Stop() error = %v, want nil", err)
		}
	})
}

func TestServiceRunInteractive(t *testing.T) {
	t.Parallel()
	if !service.Interactive() {
		t.Skip("the tests run under a service manager")
	}
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "given")
	code := runService(ctx, os.Stderr, func(ctx context.Context) int {
		if ctx.Value(key{}) != "given" {
			return 99
		}
		return 7
	})
	if code != 7 {
		t.Errorf("runService() = %d, want 7 (run's code, called with the given context)", code)
	}
}

func TestServiceStateOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  service.Status
		err     error
		want    serviceState
		wantErr bool
	}{
		{"running", service.StatusRunning, nil, stateRunning, false},
		{"stopped", service.StatusStopped, nil, stateStopped, false},
		{"not installed", service.StatusUnknown, service.ErrNotInstalled, stateNotInstalled, false},
		{"systemd failed", service.StatusUnknown, errors.New("service in failed state"), stateFailed, false},
		{"other error", service.StatusUnknown, errors.New("systemctl: exit status 1"), "", true},
	}
	for _, tt := range tests {
		got, err := stateOf(tt.status, tt.err)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%s: stateOf() = %q, %v; want %q, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}
