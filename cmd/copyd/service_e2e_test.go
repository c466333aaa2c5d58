//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// serviceYAML is a valid config for src and dst, with extra top-level lines.
func serviceYAML(t *testing.T, path, src, dst string, extra ...string) string {
	t.Helper()
	text := strings.Join(extra, "\n") + fmt.Sprintf("\npairs:\n  - source: %q\n    destination: %q\n", src, dst)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServiceUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []exitCase{
		{"no action", []string{"service"}, 2, "copyd: service needs an action: install, uninstall, start, stop, restart, status or unit"},
		{"unknown action", []string{"service", "instal"}, 2, `unknown service action "instal"; use install, uninstall,`},
		{"extra argument", []string{"service", "install", "/etc/copyd/config.yaml"}, 2, `copyd: service install takes only -c FILE and --user NAME, not "/etc/copyd/config.yaml"`},
		{"two actions", []string{"service", "stop", "start"}, 2, `copyd: service stop takes no arguments, not "start"`},
		{"unknown flag", []string{"service", "status", "--verbose"}, 2, "flag provided but not defined: -verbose"},
		{"config for status", []string{"service", "status", "-c", "x.yaml"}, 2, "-c and --user apply to service install and unit only"},
		{"user for start", []string{"service", "start", "--user", "backup"}, 2, "-c and --user apply to service install and unit only"},
		{"empty user", []string{"service", "unit", "--user", ""}, 2, `--user needs a user name, not ""`},
		{"flag without value", []string{"service", "install", "-c"}, 2, "flag needs an argument: -c"},
		{"help", []string{"service", "-h"}, 0, ""},
	}
	checkExits(t, tests)
}

func TestServiceConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	badKey := serviceYAML(t, filepath.Join(dir, "bad-key.yaml"), src, dst, "workers: 2", "setle: 1s")
	slow := serviceYAML(t, filepath.Join(dir, "slow.yaml"), src, dst, "settle: 1m", "max_delay: 10s")
	good := serviceYAML(t, filepath.Join(dir, "good.yaml"), src, dst)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown key", []string{"-c", badKey}, badKey + ":2: "},
		{"settle above max_delay", []string{"-c", slow}, slow + ":2: max_delay: 10s is shorter than settle"},
		{"missing file", []string{"-c", filepath.Join(dir, "none.yaml")}, filepath.Join(dir, "none.yaml") + ": the file does not exist"},
		{"config is a folder", []string{"-c", dir}, "this is a folder"},
		{"unknown user", []string{"-c", good, "--user", "no-such-user-copyd"}, `there is no user "no-such-user-copyd" on this machine; create it first`},
	}
	for _, tt := range tests {
		for _, action := range []string{"unit", "install"} {
			t.Run(tt.name+"/"+action, func(t *testing.T) {
				t.Parallel()
				if action == "install" && os.Geteuid() != 0 {
					t.Skip("copyd service install checks the config after the user: run the tests as root (CI does)")
				}
				args := append([]string{"service", action}, tt.args...)
				r := copyd(t, args...)
				if r.code != exitUsage || !strings.Contains(r.stderr, tt.wantErr) {
					t.Errorf("copyd %q: got %s\nwant exit 2 and stderr containing %q", args, r, tt.wantErr)
				}
			})
		}
	}
}

func TestServiceNeedsRoot(t *testing.T) {
	t.Parallel()
	cred := nobody(t)
	base := worldDir(t)
	cfg := serviceYAML(t, filepath.Join(base, "config.yaml"), filepath.Join(base, "src"), filepath.Join(base, "dst"))
	for _, args := range [][]string{
		{"install", "-c", cfg},
		{"uninstall"},
		{"start"},
		{"stop"},
		{"restart"},
	} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			r := copydAs(t, cred, append([]string{"service"}, args...)...)
			want := "copyd service " + args[0] + " needs root: run it with sudo\n"
			if r.code != exitFailed || r.stderr != want {
				t.Errorf("copyd service %q as uid 65534: got %s\nwant exit 1 and stderr %q", args, r, want)
			}
		})
	}
}

// TestServiceWithoutSystemd runs where systemd is not PID 1 (this machine,
// CI containers): every action that needs systemd says so, and install
// writes nothing.
func TestServiceWithoutSystemd(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("systemd is Linux only")
	}
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here: the test would install a real service")
	}
	if _, err := os.Lstat(serviceFile); !errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s exists already (%v)", serviceFile, err)
	}
	dir := t.TempDir()
	// A missing source is fine: the installed daemon waits for it.
	cfg := serviceYAML(t, filepath.Join(dir, "conf", "config.yaml"), filepath.Join(dir, "not-mounted"), filepath.Join(dir, "dst"))
	tests := []struct {
		args         []string
		wantErr      []string // substrings of stderr
		unprivileged bool
	}{
		{[]string{"install", "-c", cfg}, []string{"run copyd run -c " + cfg + " under your init system"}, false},
		{[]string{"uninstall"}, []string{"run copyd run -c FILE"}, false},
		{[]string{"start"}, nil, false},
		{[]string{"stop"}, nil, false},
		{[]string{"restart"}, nil, false},
		{[]string{"status"}, nil, false},
		{[]string{"status"}, nil, true}, // status needs no root
	}
	for _, tt := range tests {
		name := strings.Join(tt.args[:1], " ")
		if tt.unprivileged {
			name += " as uid 65534"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var r result
			if tt.unprivileged {
				r = copydAs(t, nobody(t), append([]string{"service"}, tt.args...)...)
			} else {
				if os.Geteuid() != 0 {
					t.Skip("needs root to get past the root check; run the tests as root (CI does)")
				}
				r = copyd(t, append([]string{"service"}, tt.args...)...)
			}
			wants := append([]string{"systemd is not running on this machine (process 1 is ", "or use the unit in packaging/systemd\n"}, tt.wantErr...)
			for _, want := range wants {
				if r.code != exitFailed || !strings.Contains(r.stderr, want) {
					t.Errorf("copyd service %q: got %s\nwant exit 1 and stderr containing %q", tt.args, r, want)
				}
			}
		})
	}
	t.Cleanup(func() {
		if _, err := os.Lstat(serviceFile); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("copyd service install left %s behind (%v)", serviceFile, err)
		}
	})
}

// TestServiceUnit prints the unit through the real binary, started through
// a symbolic link from a folder with a space in its name, with a relative
// -c: ExecStart names the real program file and the absolute config path,
// and systemd accepts the unit.
func TestServiceUnit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := copyBinary(t, filepath.Join(dir, "my tools", "copyd"))
	link := filepath.Join(dir, "bin", "copyd")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../my tools/copyd", link); err != nil {
		t.Fatal(err)
	}
	cfg := serviceYAML(t, filepath.Join(dir, "etc", "config.yaml"), filepath.Join(dir, "src-not-yet"), filepath.Join(dir, "dst"))

	tests := []struct {
		name string
		args []string
		want []string // lines of the unit
	}{
		{"relative config", []string{"-c", "etc/config.yaml"}, []string{
			fmt.Sprintf(`ExecStart="%s" run -c %s`, exe, cfg),
		}},
		{"as a user", []string{"--config", "./etc/../etc/config.yaml", "--user", "root"}, []string{
			fmt.Sprintf(`ExecStart="%s" run -c %s`, exe, cfg),
			"User=root",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, link, append([]string{"service", "unit"}, tt.args...)...)
			cmd.Dir = dir
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("copyd service unit %q: %v\n%s", tt.args, err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "the service will start anyway") {
				t.Errorf("no note about the missing source on stderr:\n%s", stderr.String())
			}
			lines := strings.Split(stdout.String(), "\n")
			for _, want := range append(tt.want, "Type=notify", "Restart=on-failure", "RestartSec=5s", "ExecReload=/bin/kill -HUP $MAINPID") {
				if !slices.Contains(lines, want) {
					t.Errorf("unit lacks the line %s:\n%s", want, stdout.String())
				}
			}
			if runtime.GOOS == "linux" {
				if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
					unit := filepath.Join(t.TempDir(), "copyd.service")
					if err := os.WriteFile(unit, stdout.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					verifyUnit(t, analyze, unit)
				}
			}
		})
	}
}

func TestServiceUnitProgramPathSystemdRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := copyBinary(t, filepath.Join(dir, "it's", "copyd"))
	cfg := serviceYAML(t, filepath.Join(dir, "config.yaml"), dir, filepath.Join(dir, "..", "dst"))
	cmd := exec.CommandContext(t.Context(), exe, "service", "unit", "-c", cfg)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	want := `systemd cannot run a program whose path contains '\'' ("` + exe + `"); move copyd to a folder such as /usr/local/bin`
	if !errors.As(err, &exit) || exit.ExitCode() != exitFailed || !strings.Contains(string(out), want) {
		t.Errorf("copyd service unit from %s: %v\n%s\nwant exit 1 and %q", exe, err, out, want)
	}
}

// copyBinary copies the copyd binary to path and returns path.
func copyBinary(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(copydBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
