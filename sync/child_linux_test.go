package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/internal/tempname"
)

// Some scenarios run Sync in a child process: the test binary started again
// with -test.run naming the calling test and childEnv naming a request
// file. The test function, run in the child, sees childEnv and serves the
// request instead of its body. A child runs as an unprivileged user
// (permission checks do not apply to root), or can be killed when the run
// hangs instead of leaving a spinning goroutine behind.

// childEnv holds the path of the child's request file.
const childEnv = "COPYD_SYNC_TEST_CHILD"

type childRequest struct {
	Pairs []config.Pair
}

type childFailure struct {
	Op, Path, Err string
	Permission    bool // errors.Is(err, fs.ErrPermission)
}

// childResult is the child's Summary and error, as JSON.
type childResult struct {
	Copied, UpToDate, Special, Deleted, Archived, Failed int64
	Failures                                             []childFailure
	Err                                                  string
}

func (r childResult) failureList() string {
	var b strings.Builder
	for _, f := range r.Failures {
		b.WriteString("\n\t" + f.Op + " " + f.Path + ": " + f.Err)
	}
	return b.String()
}

func (r childResult) check(t *testing.T, w want) {
	t.Helper()
	if r.Err != "" {
		t.Errorf("Sync() in the child: error = %s", r.Err)
	}
	for _, f := range []struct {
		name      string
		got, want int64
	}{
		{"copied", r.Copied, w.copied}, {"up to date", r.UpToDate, w.upToDate},
		{"deleted", r.Deleted, w.deleted}, {"archived", r.Archived, w.archived},
		{"failed", r.Failed, w.failed},
	} {
		if f.want >= 0 && f.got != f.want {
			t.Errorf("Sync() %s = %d, want %d%s", f.name, f.got, f.want, r.failureList())
		}
	}
}

// serveChild runs the request named by childEnv, if any, and reports
// whether it did: the caller then returns at once.
func serveChild(t *testing.T) bool {
	reqPath := os.Getenv(childEnv)
	if reqPath == "" {
		return false
	}
	var req childRequest
	b, err := os.ReadFile(reqPath)
	if err == nil {
		err = json.Unmarshal(b, &req)
	}
	if err != nil {
		t.Fatalf("child: read request: %v", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sum, err := Sync(context.Background(), req.Pairs, Options{Workers: 4, Log: log})
	res := childResult{
		Copied: sum.Copied, UpToDate: sum.UpToDate, Special: sum.Special,
		Deleted: sum.Deleted, Archived: sum.Archived, Failed: sum.Failed,
	}
	if err != nil {
		res.Err = err.Error()
	}
	for _, f := range sum.Failures {
		res.Failures = append(res.Failures, childFailure{f.Op, f.Path, f.Err.Error(), errors.Is(f, fs.ErrPermission)})
	}
	if b, err = json.Marshal(res); err == nil {
		err = os.WriteFile(reqPath+".out", b, 0o644)
	}
	if err != nil {
		t.Fatalf("child: write result: %v", err)
	}
	return true
}

// child is a way to start the test binary again.
type child struct {
	bin  string              // the test binary, where the child's user can run it
	test string              // the test function the child runs
	cred *syscall.Credential // nil: as this process
}

// newChild prepares children that run the test t (a top-level test) with
// cred; dir must be reachable by cred's user.
func newChild(t *testing.T, dir string, cred *syscall.Credential) child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// go test builds into a private folder: copy the binary where an
	// unprivileged user may run it.
	bin := filepath.Join(dir, "sync.test")
	in, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return child{bin: bin, test: t.Name(), cred: cred}
}

// sync runs Sync on pairs in a child process. It fails the test when the
// child does not finish within timeout (it is killed then) or fails.
func (c child) sync(t *testing.T, timeout time.Duration, dir string, pairs ...config.Pair) childResult {
	t.Helper()
	req, err := json.Marshal(childRequest{Pairs: pairs})
	if err != nil {
		t.Fatal(err)
	}
	reqFile, err := os.CreateTemp(dir, "request-*.json")
	if err != nil {
		t.Fatal(err)
	}
	reqPath := reqFile.Name()
	_, err = reqFile.Write(req)
	if cerr := reqFile.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(reqPath, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(reqPath)
	defer os.Remove(reqPath + ".out")

	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, "-test.run=^"+c.test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+reqPath)
	cmd.Dir = dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	err = cmd.Run()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("child output:\n%s", output.String())
		}
	})
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("Sync() in the child did not finish within %v: it hangs (child killed)", timeout)
	}
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	b, err := os.ReadFile(reqPath + ".out")
	if err != nil {
		t.Fatalf("child wrote no result (did it run %s?): %v", c.test, err)
	}
	var res childResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// worldDir returns a new folder that any user can enter and write: under
// t.TempDir() when every parent folder lets others in, else (go test makes
// TempDir's parent 0700) a folder of our own under os.TempDir().
func worldDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if !othersCanEnter(filepath.Dir(dir)) {
		var err error
		if dir, err = os.MkdirTemp("", "copyd-sync-test-"); err != nil {
			t.Fatal(err)
		}
		if !othersCanEnter(filepath.Dir(dir)) {
			t.Fatalf("no folder an unprivileged user can reach: %s is closed to others", filepath.Dir(dir))
		}
		t.Cleanup(func() {
			makeRemovable(dir)
			os.RemoveAll(dir)
		})
	}
	chmod(t, dir, 0o777)
	return dir
}

// othersCanEnter reports whether every folder from dir up to the root has
// the execute bit for others.
func othersCanEnter(dir string) bool {
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// TestSyncArchiveLongName archives files whose names leave no room for the
// timestamp suffix within 255 bytes. It runs Sync in a child process that
// is killed if it hangs.
func TestSyncArchiveLongName(t *testing.T) {
	if serveChild(t) {
		return
	}
	t.Parallel()
	c := newChild(t, t.TempDir(), nil)
	long := strings.Repeat("n", 251) + ".txt"
	tests := []struct {
		name   string
		change func(t *testing.T, src string)
	}{
		{"replaced", func(t *testing.T, src string) {
			writeFile(t, filepath.Join(src, long), "v2", 0o644, baseTime.Add(time.Hour))
		}},
		{"deleted", func(t *testing.T, src string) { removeAll(t, filepath.Join(src, long)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			writeTree(t, p.Source, map[string]string{long: "v1", "other": "x"})
			runSync(t, p)
			p.Delete = true
			p.Archive = filepath.Join(filepath.Dir(p.Source), "archive")
			tt.change(t, p.Source)

			res := c.sync(t, 30*time.Second, filepath.Dir(p.Source), p)
			res.check(t, want{-1, -1, -1, 1, 0})
			assertTreesEqual(t, p.Source, p.Destination)
			entries, err := os.ReadDir(p.Archive)
			if err != nil || len(entries) != 1 {
				t.Fatalf("archive holds %v (%v), want the old version", entries, err)
			}
			if n := len(entries[0].Name()); n > tempname.MaxNameLen {
				t.Errorf("archived name is %d bytes, want at most %d", n, tempname.MaxNameLen)
			}
			assertContent(t, filepath.Join(p.Archive, entries[0].Name()), "v1")
		})
	}
}
