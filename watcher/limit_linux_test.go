package watcher

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// userNSChildEnv marks the re-executed test binary of
// TestWatchLimitUserNamespace.
const userNSChildEnv = "COPYD_TEST_USERNS_CHILD"

// TestWatchLimitUserNamespace hits the inotify watch limit for real without
// touching the host's: since Linux 5.11 the limit is also counted per user
// namespace, so the test runs itself again in a new one and sets that
// namespace's user.max_inotify_watches to 5 (see watchLimitChild).
func TestWatchLimitUserNamespace(t *testing.T) {
	if parent := os.Getenv(userNSChildEnv); parent != "" {
		watchLimitChild(t, parent)
		return
	}
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestWatchLimitUserNamespace$", "-test.count=1", "-test.v")
	ns, err := os.Readlink("/proc/self/ns/user")
	if err != nil {
		t.Skipf("cannot tell this process's user namespace: %v", err)
	}
	cmd.Env = append(os.Environ(), userNSChildEnv+"="+ns)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	out, err := cmd.CombinedOutput()
	if _, exited := errors.AsType[*exec.ExitError](err); err != nil && !exited {
		t.Skipf("cannot start a process in a new user namespace (unprivileged user namespaces may be disabled): %v", err)
	}
	switch {
	case strings.Contains(string(out), "--- SKIP: TestWatchLimitUserNamespace"):
		t.Skipf("child in a user namespace skipped:\n%s", out)
	case err != nil || !strings.Contains(string(out), "--- PASS: TestWatchLimitUserNamespace"):
		t.Fatalf("child in a user namespace: %v\n%s", err, out)
	}
}

// watchLimitChild runs in its own user namespace, as its root; parent names
// the parent's namespace.
func watchLimitChild(t *testing.T, parent string) {
	const p = "/proc/sys/user/max_inotify_watches"
	// Outside a new namespace the write would lower the limit of every
	// process on the machine.
	if ns, err := os.Readlink("/proc/self/ns/user"); err != nil || ns == parent {
		t.Fatalf("child not in a new user namespace (%s, parent %s, %v); not touching %s", ns, parent, err, p)
	}
	if err := os.WriteFile(p, []byte("5"), 0); err != nil {
		t.Skipf("cannot set user.max_inotify_watches in a new user namespace (per-namespace inotify limits need Linux 5.11): %v", err)
	}
	root := t.TempDir()
	for i := range 20 {
		if err := os.Mkdir(filepath.Join(root, fmt.Sprintf("d%02d", i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var logs logBuf
	w, rec := start(t, Options{Root: root, Log: logs.logger()})
	waitEvent(t, rec, Event{Kind: Degraded})
	if got, want := w.Watches(), 5; got != want {
		t.Errorf("Watches() = %d, want %d", got, want)
	}

	// A folder created while the limit is reached is reported, unwatched,
	// without a second error.
	if err := os.MkdirAll(filepath.Join(root, "more", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, ev := range waitEvent(t, rec, Event{Rel: "more", Kind: DirAdded}) {
		t.Errorf("unexpected event %v", ev)
	}
	write(t, filepath.Join(root, "f"), "x")
	waitEvent(t, rec, Event{Rel: "f", Kind: Changed})

	var errs []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "level=ERROR") {
			errs = append(errs, line)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("logged %d errors, want 1:\n%s", len(errs), strings.Join(errs, ""))
	}
	for _, s := range []string{
		`msg="inotify watch limit reached;`,
		"setting=user.max_inotify_watches",
		"current=5",
		"folders=21",
		"watched=5",
		"fix=",
		"sysctl user.max_inotify_watches=",
	} {
		if !strings.Contains(errs[0], s) {
			t.Errorf("error log %q, want it to contain %q", errs[0], s)
		}
	}
}
