//go:build linux

package sync

import (
	"bytes"
	"context"
	"fmt"
	"github.com/copyd/copyd/sync/settle"
	"github.com/copyd/copyd/sync/workpool"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/internal/treetest"
)

// liveConfig is a config of quick timings for the given pairs.
func liveConfig(pairs ...config.Pair) *config.Config {
	for i := range pairs {
		if pairs[i].Name == "" {
			pairs[i].Name = fmt.Sprintf("p%d", i)
		}
		pairs[i].Fsync = true
	}
	return &config.Config{Workers: 4, Settle: 20 * time.Millisecond, MaxDelay: time.Second, Rescan: time.Hour, Pairs: pairs}
}

// startDaemon runs a daemon on cfg until the test ends and waits until
// every pair is ready. It returns the daemon and its log.
func startDaemon(t *testing.T, cfg *config.Config) (*Daemon, *lockedBuffer) {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = testStateDir(t)
	}
	logs := new(lockedBuffer)
	ready := make(chan struct{})
	d := NewDaemon(DaemonOptions{
		Log:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Ready: func() { close(ready) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon not ready after 30 s; log:\n%s", logs)
	}
	return d, logs
}

// waitInStep waits until dst holds what src holds, then asserts it in detail.
func waitInStep(t *testing.T, src, dst string, ignore ...string) {
	t.Helper()
	treetest.WaitFor(t, 30*time.Second, func() error {
		if _, err := os.Stat(dst); err != nil {
			return err
		}
		want, got := treetest.List(t, src), treetest.List(t, dst)
		for _, m := range []map[string]treetest.Entry{want, got} {
			for rel := range m {
				for _, ig := range ignore {
					if rel == ig || strings.HasPrefix(rel, ig+"/") {
						delete(m, rel)
					}
				}
			}
		}
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("%s and %s differ", src, dst)
		}
		return nil
	})
	treetest.AssertTreesEqual(t, src, dst, ignore...)
	treetest.AssertNoTemps(t, dst)
}

func TestDaemonFollowsChanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		delete bool
		setup  map[string]string
		change func(t *testing.T, src, outside string)
		// keep lists destination paths that stay although the source lost
		// them (copy semantics without delete).
		keep []string
	}{
		{name: "create", change: func(t *testing.T, src, _ string) {
			writeFile(t, filepath.Join(src, "new.txt"), "new", 0o644, time.Now())
		}},
		{name: "modify same size", setup: map[string]string{"f": "aaaa"}, change: func(t *testing.T, src, _ string) {
			writeFile(t, filepath.Join(src, "f"), "bbbb", 0o644, baseTime)
			setMtime(t, filepath.Join(src, "f"), baseTime.Add(time.Second))
		}},
		{name: "append and truncate", setup: map[string]string{"a": "x", "t": "long content"}, change: func(t *testing.T, src, _ string) {
			f, err := os.OpenFile(filepath.Join(src, "a"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("yz")
			f.Close()
			if err := os.Truncate(filepath.Join(src, "t"), 4); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "rename with delete", delete: true, setup: map[string]string{"d/old": "x"}, change: func(t *testing.T, src, _ string) {
			mustRename(t, filepath.Join(src, "d/old"), filepath.Join(src, "d/new"))
		}},
		{name: "rename without delete keeps the old name", setup: map[string]string{"d/old": "x"}, keep: []string{"d/old"}, change: func(t *testing.T, src, _ string) {
			mustRename(t, filepath.Join(src, "d/old"), filepath.Join(src, "d/new"))
		}},
		{name: "rename a folder", delete: true, setup: map[string]string{"a/b/c": "1", "a/d": "2"}, change: func(t *testing.T, src, _ string) {
			mustRename(t, filepath.Join(src, "a"), filepath.Join(src, "z"))
		}},
		{name: "move a tree in", change: func(t *testing.T, src, outside string) {
			writeTree(t, filepath.Join(outside, "tree"), map[string]string{"x/y/1": "1", "x/2": "2", "3": "3"})
			mustRename(t, filepath.Join(outside, "tree"), filepath.Join(src, "tree"))
		}},
		{name: "move a tree out", delete: true, setup: map[string]string{"tree/x/1": "1", "keep": "k"}, change: func(t *testing.T, src, outside string) {
			mustRename(t, filepath.Join(src, "tree"), filepath.Join(outside, "tree"))
		}},
		{name: "mkdir -p deep", change: func(t *testing.T, src, _ string) {
			deep := filepath.Join(src, strings.Repeat("level/", 20))
			writeFile(t, filepath.Join(deep, "bottom"), "b", 0o600, time.Now())
		}},
		{name: "rmdir", delete: true, setup: map[string]string{"gone/f": "x", "stays": "y"}, change: func(t *testing.T, src, _ string) {
			if err := os.RemoveAll(filepath.Join(src, "gone")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "chmod a file and a folder", setup: map[string]string{"d/f": "x"}, change: func(t *testing.T, src, _ string) {
			if err := os.Chmod(filepath.Join(src, "d/f"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(src, "d"), 0o750); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "symlink", change: func(t *testing.T, src, _ string) {
			symlink(t, "../elsewhere", filepath.Join(src, "link"))
		}},
		{name: "replace a file by a folder", delete: true, setup: map[string]string{"x": "file"}, change: func(t *testing.T, src, _ string) {
			if err := os.Remove(filepath.Join(src, "x")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(src, "x/inside"), "i", 0o644, time.Now())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			src, dst, outside := filepath.Join(base, "src"), filepath.Join(base, "dst"), filepath.Join(base, "outside")
			mkdirAll(t, src)
			mkdirAll(t, outside)
			writeTree(t, src, tt.setup)
			startDaemon(t, liveConfig(config.Pair{Source: src, Destination: dst, Delete: tt.delete}))
			waitInStep(t, src, dst)
			tt.change(t, src, outside)
			waitInStep(t, src, dst, tt.keep...)
			for _, k := range tt.keep {
				if _, err := os.Lstat(filepath.Join(dst, k)); err != nil {
					t.Errorf("%s gone from the destination without delete: %v", k, err)
				}
			}
		})
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func TestDaemonBurstRollsUp(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	mkdirAll(t, filepath.Join(src, "one"))
	_, logs := startDaemon(t, liveConfig(config.Pair{Source: src, Destination: dst}))
	// More files in one existing folder than the settle queue keeps apart.
	for i := range 3000 {
		if err := os.WriteFile(filepath.Join(src, "one", fmt.Sprintf("f%05d", i)), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitInStep(t, src, dst)
	if !strings.Contains(logs.String(), "changes copied") {
		t.Error(`no "changes copied" summary in the log`)
	}
}

func TestDaemonDeleteBrakes(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	writeTree(t, src, map[string]string{"a": "1", "d/b": "2"})
	_, logs := startDaemon(t, liveConfig(config.Pair{Source: src, Destination: dst, Delete: true}))
	waitInStep(t, src, dst)
	before := treetest.List(t, dst)

	// Emptying the source (an unmounted disk looks like this) deletes nothing.
	for _, name := range []string{"a", "d"} {
		if err := os.RemoveAll(filepath.Join(src, name)); err != nil {
			t.Fatal(err)
		}
	}
	treetest.WaitFor(t, 10*time.Second, func() error {
		l := logs.String()
		if strings.Count(l, "deleting nothing") != 1 {
			return fmt.Errorf(`want one "deleting nothing" in the log`)
		}
		for _, p := range []string{"a", "d/b", "d"} {
			if !strings.Contains(l, `msg="deletion refused" pair=p0 path=`+p+"\n") {
				return fmt.Errorf("deleting %s not refused yet", p)
			}
		}
		return nil
	})
	after := treetest.List(t, dst)
	delete(after, ".")
	delete(before, ".")
	if !reflect.DeepEqual(before, after) {
		t.Errorf("destination changed while the source was empty:\nbefore %v\nafter  %v", keys(before), keys(after))
	}

	// Files again: the deletions refused meanwhile are made now.
	writeFile(t, filepath.Join(src, "sentinel"), "s", 0o644, baseTime)
	waitInStep(t, src, dst)
	if !strings.Contains(logs.String(), "deletions resume") {
		t.Error(`no "deletions resume" in the log`)
	}

	// The source root moved away: nothing deleted, the pair waits.
	mustRename(t, src, src+".away")
	treetest.WaitFor(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "waiting for source") {
			return fmt.Errorf(`no "waiting for source" in the log`)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(dst, "sentinel")); err != nil {
		t.Errorf("destination lost a file while the source was away: %v", err)
	}
	// Back, with a change made meanwhile: the pair carries on.
	writeFile(t, filepath.Join(src+".away", "while-away"), "w", 0o644, baseTime)
	mustRename(t, src+".away", src)
	treetest.WaitFor(t, 20*time.Second, func() error {
		_, err := os.Stat(filepath.Join(dst, "while-away"))
		return err
	})
}

// TestDaemonDeleteBrakeExcludedOnly: a source root emptied down to
// excluded entries (an editor's swap file left in the folder a disk was
// mounted on) deletes nothing, as an empty one does.
func TestDaemonDeleteBrakeExcludedOnly(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	writeTree(t, src, map[string]string{"data/a": "1", "data/d/b": "2"})
	_, logs := startDaemon(t, liveConfig(config.Pair{Source: src, Destination: dst, Delete: true, Exclude: []string{"*.swp", "cache/"}}))
	waitInStep(t, src, dst)
	before := treetest.List(t, dst)
	delete(before, ".")

	writeTree(t, src, map[string]string{".x.swp": "stray", "cache/c": "stray"})
	// One rename empties the source at once; removing the files one by one
	// would let copyd see a source that is merely shrinking.
	mustRename(t, filepath.Join(src, "data"), filepath.Join(base, "gone"))
	treetest.WaitFor(t, 10*time.Second, func() error {
		l := logs.String()
		if !strings.Contains(l, `msg="deleting nothing: `+brakeExcludedRoot+";") {
			return fmt.Errorf("no excluded-root brake in the log")
		}
		if !strings.Contains(l, `msg="deletion refused" pair=p0 path=data`+"\n") {
			return fmt.Errorf("deleting data not refused yet")
		}
		return nil
	})
	after := treetest.List(t, dst)
	delete(after, ".")
	if !reflect.DeepEqual(before, after) {
		t.Errorf("destination changed while the source held only excluded entries:\nbefore %v\nafter  %v", keys(before), keys(after))
	}

	// Files again: the deletions refused meanwhile are made now.
	writeFile(t, filepath.Join(src, "sentinel"), "s", 0o644, baseTime)
	waitInStep(t, src, dst, ".x.swp", "cache")
	if !strings.Contains(logs.String(), "deletions resume") {
		t.Error(`no "deletions resume" in the log`)
	}
}

func keys(m map[string]treetest.Entry) []string {
	var k []string
	for rel := range m {
		k = append(k, rel)
	}
	return k
}

func TestDaemonWaitsForMissingSource(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	_, logs := startDaemon(t, liveConfig(config.Pair{Source: src, Destination: dst}))
	if !strings.Contains(logs.String(), "waiting for source") {
		t.Errorf(`no "waiting for source" in the log:\n%s`, logs)
	}
	writeTree(t, src, map[string]string{"late/f": "x"})
	waitInStep(t, src, dst)
}

func TestDaemonReload(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	pair := func(name string) config.Pair {
		src := filepath.Join(base, name, "src")
		mkdirAll(t, src)
		return config.Pair{Name: name, Source: src, Destination: filepath.Join(base, name, "dst")}
	}
	a, b := pair("a"), pair("b")
	cfg := liveConfig(a)
	d, logs := startDaemon(t, cfg)
	writeFile(t, filepath.Join(a.Source, "1"), "1", 0o644, baseTime)
	waitInStep(t, a.Source, a.Destination)

	// Add b, drop a, more workers.
	next := liveConfig(b)
	next.Workers = 2
	d.Reload(next)
	treetest.WaitFor(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "config reloaded") {
			return fmt.Errorf("not reloaded")
		}
		return nil
	})
	writeFile(t, filepath.Join(b.Source, "2"), "2", 0o644, baseTime)
	waitInStep(t, b.Source, b.Destination)
	// a is no longer served: its change stays behind (barrier: b's copy above
	// and another one below both arrived).
	writeFile(t, filepath.Join(a.Source, "after"), "x", 0o644, baseTime)
	writeFile(t, filepath.Join(b.Source, "3"), "3", 0o644, baseTime)
	waitInStep(t, b.Source, b.Destination)
	if _, err := os.Stat(filepath.Join(a.Destination, "after")); err == nil {
		t.Error("a removed pair still copies")
	}
}

// TestDaemonPausesOnFullDestination fills a small tmpfs: the pair pauses,
// loses nothing, and resumes by itself once space is freed. With delete
// the same happens once deleting what the source lacks made no room
// (there is nothing to delete: the ballast is outside the destination).
func TestDaemonPausesOnFullDestination(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root; run the tests as root (CI does)")
	}
	for _, del := range []bool{false, true} {
		t.Run(fmt.Sprintf("delete=%v", del), func(t *testing.T) {
			t.Parallel()
			testPausesOnFullDestination(t, del)
		})
	}
}

// testPausesOnFullDestination is TestDaemonPausesOnFullDestination for a
// pair with delete set to del.
func testPausesOnFullDestination(t *testing.T, del bool) {
	base := t.TempDir()
	src, mnt := filepath.Join(base, "src"), filepath.Join(base, "mnt")
	mkdirAll(t, src)
	mkdirAll(t, mnt)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); the full-destination path is not tested", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	dst := filepath.Join(mnt, "dst")
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 900<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	_, logs := startDaemon(t, liveConfig(config.Pair{Source: src, Destination: dst, Delete: del}))
	writeFile(t, filepath.Join(src, "big"), strings.Repeat("x", 300<<10), 0o644, baseTime)
	treetest.WaitFor(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "pair paused") {
			return fmt.Errorf(`no "pair paused" in the log`)
		}
		return nil
	})
	writeFile(t, filepath.Join(src, "while-full"), "w", 0o644, baseTime)
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	waitInStep(t, src, dst)
	if !strings.Contains(logs.String(), "resuming") {
		t.Error(`no "resuming" in the log`)
	}
}

// TestDaemonRenamesInsteadOfCopying renames a folder and a file in the
// source: with delete the destination renames its entries too (the
// inodes stay: nothing was copied again).
func TestDaemonRenamesInsteadOfCopying(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	writeTree(t, src, map[string]string{"第01讲/video.mp4": strings.Repeat("v", 1<<20), "第01讲/notes.txt": "n", "single.mp4": "s"})
	_, logs := startDaemon(t, liveConfig(config.Pair{Source: src, Destination: dst, Delete: true}))
	waitInStep(t, src, dst)
	ino := func(p string) uint64 {
		t.Helper()
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	videoIno, singleIno := ino(filepath.Join(dst, "第01讲/video.mp4")), ino(filepath.Join(dst, "single.mp4"))
	// A folder made first (and copied), then the lesson moved into it. (A
	// move right after the mkdir is caught too when both settle within
	// maxDueSlack of each other; a test cannot promise that.)
	mkdirAll(t, filepath.Join(src, "archive"))
	treetest.WaitFor(t, 10*time.Second, func() error {
		_, err := os.Stat(filepath.Join(dst, "archive"))
		return err
	})
	mustRename(t, filepath.Join(src, "第01讲"), filepath.Join(src, "archive/第01讲 (old)"))
	mustRename(t, filepath.Join(src, "single.mp4"), filepath.Join(src, "renamed.mp4"))
	waitInStep(t, src, dst)
	if got := ino(filepath.Join(dst, "archive/第01讲 (old)/video.mp4")); got != videoIno {
		t.Errorf("renamed folder was copied again: inode %d, want %d\n%s", got, videoIno, logs)
	}
	if got := ino(filepath.Join(dst, "renamed.mp4")); got != singleIno {
		t.Errorf("renamed file was copied again: inode %d, want %d", got, singleIno)
	}
}

// TestDaemonOlderCopyNeverWins replays a race CI found: a scan's copy of a
// file waits for the committer's flush while the file changes and the
// change's own copy runs. Whatever the order, the destination must end
// with the newer version, or the path must be queued to get it.
func TestDaemonOlderCopyNeverWins(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	writeFile(t, filepath.Join(src, "f"), "old", 0o644, baseTime)
	mkdirAll(t, dst)
	cfg := liveConfig(config.Pair{Source: src, Destination: dst})
	pool := workpool.New(t.Context(), 2)
	defer pool.Close()
	lp := newLivePair(cfg.Pairs[0], cfg, pool, slog.New(slog.DiscardHandler))
	lp.settle = settle.New(cfg.Settle, cfg.MaxDelay)
	lp.queue = pool.NewQueue(8)
	lp.base = lp.newPass(lp.queue) // path jobs: no committer
	gate := make(chan struct{})
	lp.commit = newCommitter(lp.base, func() error { <-gate; return nil })
	scan := lp.newPass(pool.NewQueue(8))

	old, err := os.Lstat(filepath.Join(src, "f"))
	if err != nil {
		t.Fatal(err)
	}
	scan.copyOne(t.Context(), "f", old, nil, &dirMeta{}) // handed to the committer, which waits
	writeFile(t, filepath.Join(src, "f"), "new!", 0o644, baseTime.Add(time.Second))
	lp.syncPath(t.Context(), "f", true) // the change's job
	close(gate)
	lp.commit.close()

	got, err := os.ReadFile(filepath.Join(dst, "f"))
	if err != nil {
		t.Fatal(err)
	}
	work, _, _ := lp.settle.Due(time.Now().Add(time.Hour))
	if string(got) != "new!" && len(work) == 0 {
		t.Fatalf("destination holds %q, an older version, and nothing is queued to fix it", got)
	}
	for _, s := range work {
		lp.syncPath(t.Context(), s.Rel, s.Written)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "f")); string(got) != "new!" {
		t.Errorf("after the queued work: destination holds %q, want %q", got, "new!")
	}
	treetest.AssertNoTemps(t, dst)
}

// TestDaemonGraceAbortsCopies stops a daemon whose grace period is over at
// once while a big copy is in flight: the copy is aborted and leaves no
// temp file and nothing partial under the final name.
func TestDaemonGraceAbortsCopies(t *testing.T) {
	t.Parallel()
	const size = 256 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for attempt := 1; attempt <= 3; attempt++ {
		base := t.TempDir()
		src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
		mkdirAll(t, src)
		if err := os.WriteFile(filepath.Join(src, "big"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		d := NewDaemon(DaemonOptions{Grace: time.Nanosecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx, liveConfig(config.Pair{Source: src, Destination: dst})) }()
		// Stop as soon as the copy's temp file shows (fsync: true: scans
		// write named temps for the committer).
		inFlight := false
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			if temps, _ := treetest.Temps(dst); len(temps) > 0 {
				inFlight = true
				break
			}
			if fi, err := os.Stat(filepath.Join(dst, "big")); err == nil && fi.Size() == size {
				break // copied before we saw it: try again
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run() = %v", err)
		}
		treetest.AssertNoTemps(t, dst)
		if got, err := os.ReadFile(filepath.Join(dst, "big")); err == nil && !bytes.Equal(got, data) {
			t.Fatalf("partial file under its final name: %d bytes of %d", len(got), size)
		}
		if inFlight {
			return
		}
	}
	t.Fatal("the copy finished before its temp file was seen, three times: the abort was not exercised")
}
