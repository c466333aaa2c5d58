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
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/internal/treetest"
)

// copydBin is the real binary, built once by TestMain.
var copydBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "copyd-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // the unprivileged tests run it too
	// Every copyd the tests start keeps its indexes here, not in the
	// user's state folder; world-writable and sticky (like /tmp), because
	// the unprivileged tests run it too.
	state := filepath.Join(dir, "state", "copyd")
	if err := os.MkdirAll(state, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(filepath.Dir(state), 0o1777)
	os.Chmod(state, 0o1777)
	os.Setenv("XDG_STATE_HOME", filepath.Dir(state))
	os.Unsetenv("STATE_DIRECTORY")
	copydBin = filepath.Join(dir, "copyd")
	build := exec.Command("go", "build", "-o", copydBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build copyd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// copyd runs the binary with args and returns its exit code and output.
func copyd(t *testing.T, args ...string) result {
	t.Helper()
	return copydAs(t, nil, args...)
}

// copydAs runs the binary with the given credentials (nil: as we are).
func copydAs(t *testing.T, cred *syscall.Credential, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, copydBin, args...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	return runCommand(t, cmd, args)
}

// exitCase is one command line and the exit code and error it must give.
type exitCase struct {
	name     string
	args     []string
	wantCode int
	wantErr  string // substring of stderr
}

// checkExits runs each case with the real binary, in parallel.
func checkExits(t *testing.T, tests []exitCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := copyd(t, tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("copyd %q: got %s\nwant exit %d and stderr containing %q", tt.args, r, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// runCommand runs cmd (copyd with args, perhaps through a wrapper) and
// returns its exit code and output; it fails the test if cmd cannot run.
func runCommand(t *testing.T, cmd *exec.Cmd, args []string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run copyd %q: %v", args, err)
	}
	return result{code, stdout.String(), stderr.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

var summaryRE = regexp.MustCompile(`^copied (\d+) files? \(.*\), skipped (\d+) \((\d+) up to date, (\d+) special\), failed (\d+)`)

// summary parses the final summary line: copied, up to date, failed.
func summary(t *testing.T, r result) (copied, upToDate, failed int) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	m := summaryRE.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("no summary line in output:\n%s", r)
	}
	fmt.Sscan(m[1], &copied)
	fmt.Sscan(m[3], &upToDate)
	fmt.Sscan(m[5], &failed)
	return copied, upToDate, failed
}

func TestSyncCopiesATreeAndSecondRunCopiesNothing(t *testing.T) {
	t.Parallel()
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "new", "backup")
	writeTree(t, src, map[string]string{
		"python教学视频/第01讲 多进程.mp4":       "lesson one",
		"python教学视频/第02讲 多线程.mp4":       strings.Repeat("x", 1<<20),
		"notes with spaces/😀 emoji.txt": "smile",
		"empty":                         "",
		"deep/a/b/c/d/e/f/g/h/i/j.txt":  "deep",
	})
	if err := os.Symlink("python教学视频/第01讲 多进程.mp4", filepath.Join(src, "latest")); err != nil {
		t.Fatal(err)
	}
	r := copyd(t, "sync", "--progress", "never", "--fsync=false", src, dst)
	if r.code != 0 {
		t.Fatalf("first sync: %s", r)
	}
	if copied, _, failed := summary(t, r); copied != 6 || failed != 0 {
		t.Errorf("first sync copied %d, failed %d; want 6, 0\n%s", copied, failed, r)
	}
	assertTreesEqual(t, src, dst)
	assertNoTemps(t, dst)

	r = copyd(t, "sync", "--progress", "never", src, dst)
	if copied, upToDate, _ := summary(t, r); r.code != 0 || copied != 0 || upToDate != 6 {
		t.Errorf("second sync copied %d, up to date %d; want 0, 6\n%s", copied, upToDate, r)
	}

	changed := filepath.Join(src, "python教学视频/第01讲 多进程.mp4")
	if err := os.WriteFile(changed, []byte("lesson one, recut"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = copyd(t, "sync", "--progress", "never", src, dst)
	if copied, _, _ := summary(t, r); r.code != 0 || copied != 1 {
		t.Errorf("sync after one change copied %d; want 1\n%s", copied, r)
	}
	assertTreesEqual(t, src, dst)
}

func TestSyncUsageErrors(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	tests := []exitCase{
		{"no command", nil, 2, "Usage:"},
		{"unknown command", []string{"snyc"}, 2, `unknown command "snyc"`},
		{"one folder only", []string{"sync", src}, 2, "takes a source and a destination folder"},
		{"config and folders", []string{"sync", "-c", "x.yaml", src, src + "2"}, 2, "either -c FILE or SRC DST"},
		{"zero workers", []string{"sync", "--workers", "0", src, src + "2"}, 2, "--workers must be at least 1"},
		{"bad progress", []string{"sync", "--progress", "sometimes", src, src + "2"}, 2, "--progress must be auto, always or never"},
		{"bad log level", []string{"sync", "--log-level", "loud", src, src + "2"}, 2, "--log-level must be"},
		{"unknown flag", []string{"sync", "--frobnicate", src, src + "2"}, 2, "flag provided but not defined: -frobnicate"},
		{"missing source", []string{"sync", filepath.Join(src, "nope"), src + "2"}, 2, "does not exist"},
		{"destination inside source", []string{"sync", src, filepath.Join(src, "backup")}, 2, "inside"},
		{"missing config file", []string{"sync", "-c", filepath.Join(src, "none.yaml")}, 2, "none.yaml"},
		{"scp-style destination", []string{"sync", src, "user@nas:/backup"}, 2, "looks like scp's host:path, which copyd does not take as a remote: write sftp://user@nas/backup"},
		{"unknown scheme", []string{"sync", src, "ftp://nas/backup"}, 2, `unknown destination scheme "ftp"`},
		{"unreachable s3 destination", []string{"check", src, "s3://bucket/x"}, 2, "s3://bucket/x"},
		{"help", []string{"help"}, 0, ""},
		{"sync help", []string{"sync", "-h"}, 0, ""},
	}
	checkExits(t, tests)
	// Refused, not made: these used to become local folders here.
	for _, p := range []string{"user@nas:", "ftp:", "s3:"} {
		if _, err := os.Lstat(p); err == nil {
			os.RemoveAll(p)
			t.Errorf("copyd made a local folder %q for a remote-looking destination", p)
		}
	}
}

func TestSyncDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "backup")
	writeTree(t, src, map[string]string{"a.txt": "a", "sub/b.txt": "b"})
	r := copyd(t, "sync", "--dry-run", src, dst)
	if r.code != 0 {
		t.Fatalf("dry run: %s", r)
	}
	for _, want := range []string{`copy    ` + filepath.Base(src) + `: "a.txt"`, `"sub/b.txt"`, "would copy 2 files"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, r)
		}
	}
	if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dry run created the destination: %v", err)
	}
}

// TestSyncExcludedOnlySourceDeletesNothing: a source root emptied down to
// excluded entries (a swap file left in the folder a disk was mounted on)
// brakes deletions as an empty one does: nothing is deleted, the brake is
// logged, and the sync exits 0.
func TestSyncExcludedOnlySourceDeletesNothing(t *testing.T) {
	t.Parallel()
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "backup")
	writeTree(t, src, map[string]string{"a.txt": "a", "sub/b.txt": "b", "a.swp": "swap"})
	args := []string{"sync", "--progress", "never", "--fsync=false", "--delete", "--exclude", "*.swp", src, dst}
	if r := copyd(t, args...); r.code != 0 {
		t.Fatalf("first sync: %s", r)
	}
	before := treetest.List(t, dst)
	delete(before, ".") // the root's times follow the source's

	remove(t, filepath.Join(src, "a.txt"))
	remove(t, filepath.Join(src, "sub"))
	r := copyd(t, args...)
	if r.code != 0 {
		t.Errorf("sync of a source holding only excluded entries: exit %d, want 0 as for an empty one\n%s", r.code, r)
	}
	const brake = `level=ERROR msg="deleting nothing: the source folder is empty but for excluded entries, and its destination is not;`
	if !strings.Contains(r.stderr, brake) {
		t.Errorf("no delete brake in the log:\n%s", r.stderr)
	}
	treetest.AssertUnchanged(t, before, dst)

	// Files again: the deletions are made.
	write(t, filepath.Join(src, "new.txt"), "new")
	if r := copyd(t, args...); r.code != 0 {
		t.Fatalf("sync with files again: %s", r)
	}
	treetest.AssertTreesEqual(t, src, dst, "a.swp")
	assertNoTemps(t, dst)
}

func TestSyncUnreadableFileFailsAloneWithExit1(t *testing.T) {
	t.Parallel()
	base := worldDir(t)
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	writeTree(t, src, map[string]string{"ok1.txt": "1", "secret.txt": "s", "sub/ok2.txt": "2"})
	if err := os.Chmod(filepath.Join(src, "secret.txt"), 0o000); err != nil {
		t.Fatal(err)
	}
	mkWorldWritable(t, base)
	r := copydAs(t, nobody(t), "sync", "--progress", "never", src, dst)
	if r.code != 1 {
		t.Fatalf("want exit 1 for an unreadable file, got %s", r)
	}
	if !strings.Contains(r.stderr, "secret.txt") || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("log does not name the file and the cause:\n%s", r)
	}
	for _, ok := range []string{"ok1.txt", "sub/ok2.txt"} {
		if _, err := os.Stat(filepath.Join(dst, ok)); err != nil {
			t.Errorf("%s not copied: %v", ok, err)
		}
	}
	if copied, _, failed := summary(t, r); copied != 2 || failed != 1 {
		t.Errorf("copied %d, failed %d; want 2, 1", copied, failed)
	}
	assertNoTemps(t, dst)
}

func TestSyncSIGTERMLeavesOnlyCompleteFiles(t *testing.T) {
	t.Parallel()
	src, dst := t.TempDir(), t.TempDir()
	files := map[string]string{}
	for i := range 400 {
		files[fmt.Sprintf("d%02d/f%03d.bin", i%20, i)] = strings.Repeat(fmt.Sprintf("%03d", i), 20000)
	}
	writeTree(t, src, files)
	cmd := exec.CommandContext(t.Context(), copydBin, "sync", "--progress", "never", "--workers", "2", "--fsync=true", src, dst)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, func() error {
		entries, _ := os.ReadDir(dst)
		if len(entries) == 0 {
			return errors.New("nothing copied yet")
		}
		return nil
	})
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	assertNoTemps(t, dst)
	// Whatever arrived is complete.
	filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dst, p)
		got, _ := os.ReadFile(p)
		if want := files[filepath.ToSlash(rel)]; string(got) != want {
			t.Errorf("%s is not a complete copy (%d of %d bytes)", rel, len(got), len(want))
		}
		return nil
	})
	r := copyd(t, "sync", "--progress", "never", src, dst) // the next run finishes the job
	if r.code != 0 {
		t.Fatalf("sync after interruption: %s", r)
	}
	assertTreesEqual(t, src, dst)
}

var progressRE = regexp.MustCompile(`\d+/\d+ files`)

func TestSyncProgressBarAndJSONLog(t *testing.T) {
	t.Parallel()
	src, dst := t.TempDir(), t.TempDir()
	files := map[string]string{}
	for i := range 300 {
		files[fmt.Sprintf("d%d/f%03d", i%7, i)] = strings.Repeat("x", 4096)
	}
	writeTree(t, src, files)
	r := copyd(t, "sync", "--progress", "always", "--log-format", "json", src, dst)
	if r.code != 0 {
		t.Fatalf("sync: %s", r)
	}
	if !progressRE.MatchString(r.stderr) || !strings.Contains(r.stderr, `"msg":"pair done"`) {
		t.Errorf("want a progress bar and JSON log lines on stderr:\n%s", r)
	}
	if copied, _, _ := summary(t, r); copied != 300 {
		t.Errorf("copied %d, want 300", copied)
	}
	assertTreesEqual(t, src, dst)
}
