package sync

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/internal/treetest"
)

// baseTime is the modification time writeTree gives every file, far enough
// in the past that any later write or touch yields a different one (the
// kernel's coarse clock can give two quick writes the same mtime).
var baseTime = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// writeTree creates the files of tree (slash-separated path → content)
// under dir with mode 0644 and mtime baseTime, and their parent folders.
func writeTree(t testing.TB, dir string, tree map[string]string) {
	t.Helper()
	for rel, content := range tree {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(rel)), content, 0o644, baseTime)
	}
}

// writeFile writes one file with the given mode and mtime, making its parents.
func writeFile(t testing.TB, path, content string, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile leaves an existing file's mode and obeys umask
		t.Fatal(err)
	}
	setMtime(t, path, mtime)
}

// symlink makes path a symlink to target, making path's parents.
func symlink(t testing.TB, target, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func mkdirAll(t testing.TB, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func setMtime(t testing.TB, path string, mtime time.Time) {
	t.Helper()
	if err := os.Chtimes(path, time.Time{}, mtime); err != nil {
		t.Fatal(err)
	}
}

func chmod(t testing.TB, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func removeAll(t testing.TB, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

// readFile returns the content of path, failing the test if it cannot.
func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lstat returns path's own FileInfo, failing the test if it cannot.
func lstat(t testing.TB, path string) fs.FileInfo {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func assertMissing(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errIsNotExist(err) {
		t.Errorf("%s exists (err %v), want it gone", path, err)
	}
}

func assertContent(t testing.TB, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("read %s: %v", path, err)
		return
	}
	if string(b) != want {
		t.Errorf("%s = %q, want %q", path, b, want)
	}
}

// The tree assertions live in internal/treetest, shared with the
// end-to-end tests of cmd/copyd.
type treeEntry = treetest.Entry

func listTree(t testing.TB, root string) map[string]treeEntry { return treetest.List(t, root) }
func assertNoTemps(t testing.TB, dir string)                  { treetest.AssertNoTemps(t, dir) }
func assertTreesEqual(t testing.TB, src, dst string, ignore ...string) {
	treetest.AssertTreesEqual(t, src, dst, ignore...)
}
func assertUnchanged(t testing.TB, before map[string]treeEntry, dir string) {
	treetest.AssertUnchanged(t, before, dir)
}

// newPair returns a pair named "test" with an existing, empty source folder
// and a destination that does not exist yet, both in a fresh temp dir.
func newPair(t testing.TB) config.Pair {
	t.Helper()
	base := t.TempDir()
	p := config.Pair{Name: "test", Source: filepath.Join(base, "src"), Destination: filepath.Join(base, "dst")}
	mkdirAll(t, p.Source)
	t.Cleanup(func() { makeRemovable(base) }) // runs before TempDir's RemoveAll
	return p
}

// makeRemovable gives the owner rwx on every folder under dir, so that the
// test's cleanup can remove what a test locked (as a non-root user).
func makeRemovable(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
}

// testOptions returns Sync options that log to the test's output.
func testOptions(t *testing.T) Options {
	return Options{
		Workers:  4,
		Log:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
		StateDir: testStateDir(t),
	}
}

// testStateDir is the state folder every test shares: indexes are named
// after their destination, and every test has its own.
func testStateDir(t *testing.T) string {
	t.Helper()
	stateOnce.Do(func() { stateDir, stateErr = os.MkdirTemp("", "copyd-test-state") })
	if stateErr != nil {
		t.Fatal(stateErr)
	}
	return stateDir
}

var (
	stateOnce sync.Once
	stateDir  string
	stateErr  error
)

// runSync runs Sync on pairs with testOptions and fails the test if it
// returns an error.
func runSync(t *testing.T, pairs ...config.Pair) Summary {
	t.Helper()
	sum, err := Sync(t.Context(), pairs, testOptions(t))
	if err != nil {
		t.Fatalf("Sync() error = %v", err)
	}
	return sum
}

// fsyncName names a subtest or benchmark by its fsync setting.
func fsyncName(on bool) string { return "fsync=" + strconv.FormatBool(on) }

// failureList formats Summary.Failures for an error message.
func failureList(list []*FileError) string {
	var b strings.Builder
	for _, f := range list {
		b.WriteString("\n\t")
		b.WriteString(f.Error())
	}
	return b.String()
}

// lockedBuffer is a log sink tests can read while the daemon writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
