//go:build linux

package remote

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/dest"
	"github.com/copyd/copyd/internal/testserver"
	copysync "github.com/copyd/copyd/sync"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// backend makes a fresh destination of one kind for a test: the pair's
// destination settings, and a way to read back what is there.
type backend struct {
	name string
	// pair returns a pair from src into a new, empty destination.
	pair func(t *testing.T, src string) config.Pair
}

// backends are the three destinations the engine must treat alike: a
// local folder (dest/local), a real MinIO and a real sshd on 127.0.0.1.
func backends(t *testing.T) []backend {
	return []backend{
		{"local", func(t *testing.T, src string) config.Pair {
			return config.Pair{Name: "p", Source: src, Destination: filepath.Join(t.TempDir(), "dst")}
		}},
		{"s3", func(t *testing.T, src string) config.Pair {
			srv := minioFor(t)
			bucket := fmt.Sprintf("b%d", time.Now().UnixNano())
			cl, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.MakeBucket(t.Context(), bucket, minio.MakeBucketOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
			return config.Pair{Name: "p", Source: src, Destination: "s3://" + bucket + "/backup",
				S3: config.S3{Endpoint: "http://" + srv.Endpoint, PathStyle: true}}
		}},
		{"sftp", func(t *testing.T, src string) config.Pair {
			srv := sshdFor(t)
			dir := filepath.Join(srv.Root, fmt.Sprint(time.Now().UnixNano()))
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return config.Pair{Name: "p", Source: src, Destination: srv.URL(strings.TrimPrefix(dir, srv.Root)),
				SFTP: config.SFTP{KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts}}
		}},
	}
}

// One server of each kind per test (servers start in about a second).
func minioFor(t *testing.T) *testserver.MinIO { return testserver.StartMinIO(t) }
func sshdFor(t *testing.T) *testserver.SSHD   { return testserver.StartSSHD(t) }

// forEach runs f once per backend.
func forEach(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// run is one copyd sync of p with the index in state; it fails the test
// on a pair error and returns the summary.
func run(t *testing.T, p config.Pair, state string, dry ...io.Writer) copysync.Summary {
	t.Helper()
	o := Options{StateDir: state, Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if len(dry) > 0 {
		o.DryRun, o.Plan = true, dry[0]
	}
	sum, err := Sync(t.Context(), []config.Pair{p}, o)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return sum
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	logMu.Lock()
	logs.Write(p)
	logMu.Unlock()
	return len(p), nil
}

// logs gathers every log line of the engine in this test binary, for
// tests that check what a run said (tests using it do not run in parallel).
var (
	logMu sync.Mutex
	logs  strings.Builder
)

// logged returns the log lines written since the last call.
func logged() string {
	logMu.Lock()
	defer logMu.Unlock()
	s := logs.String()
	logs.Reset()
	return s
}

// tree reads the destination of p back through its backend: rel to
// "file CONTENT", "link TARGET" or "dir".
func tree(t *testing.T, p config.Pair) map[string]string {
	t.Helper()
	d, err := Connect(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out := map[string]string{}
	var walk func(rel string)
	walk = func(rel string) {
		es, err := d.List(t.Context(), rel)
		if err != nil {
			t.Fatalf("list %q: %v", rel, err)
		}
		for _, e := range es {
			crel := relJoin(rel, e.Name)
			switch e.Kind {
			case dest.Dir:
				out[crel] = "dir"
				walk(crel)
			case dest.Symlink:
				out[crel] = "link " + e.Target
			default:
				rc, err := d.Open(t.Context(), crel)
				if err != nil {
					t.Fatalf("open %q: %v", crel, err)
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				out[crel] = "file " + string(b)
			}
		}
	}
	walk("")
	return out
}

// srcTree is tree for a local source folder.
func srcTree(t *testing.T, src string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == src {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		switch {
		case de.IsDir():
			out[rel] = "dir"
		case de.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link " + target
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = "file " + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertSame(t *testing.T, want, got map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: destination has %q, want %q", k, clip(got[k]), clip(v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: destination has %q, the source nothing", k, clip(v))
		}
	}
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func writeFile(t *testing.T, p, content string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// settle waits out the racy window, so records taken now are proof.
func settle() { time.Sleep(copysync.SettleWindow(0)) }

var epoch = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// TestSyncMirrorsAndRemembers: a first sync copies the tree, a second
// copies nothing, and rewrites that keep size and mtime (touch -r, cp -p,
// a swap of two files of equal size and mtime) are all copied.
func TestSyncMirrorsAndRemembers(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		src := t.TempDir()
		state := t.TempDir()
		writeFile(t, filepath.Join(src, "a.txt"), "alpha-1", epoch)
		writeFile(t, filepath.Join(src, "b.txt"), "bravo-1", epoch)
		writeFile(t, filepath.Join(src, "deep/er/c.txt"), "charlie", time.Time{})
		writeFile(t, filepath.Join(src, "empty"), "", time.Time{})
		writeFile(t, filepath.Join(src, "big.bin"), strings.Repeat("0123456789abcdef", (bufferMax+12345)/16), time.Time{})
		if err := os.Symlink("deep/er/c.txt", filepath.Join(src, "link")); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(src, "nothing-in-here"), 0o755); err != nil {
			t.Fatal(err)
		}
		p := b.pair(t, src)
		sum := run(t, p, state)
		if sum.Failed != 0 || sum.Copied != 6 {
			t.Fatalf("first sync: copied %d, failed %d; want 6, 0", sum.Copied, sum.Failed)
		}
		assertSame(t, srcTree(t, src), tree(t, p))
		settle()
		if sum := run(t, p, state); sum.Copied != 0 || sum.UpToDate != 6 {
			t.Fatalf("second sync: copied %d, up to date %d; want 0, 6", sum.Copied, sum.UpToDate)
		}

		// Same size, same mtime, new bytes: a rewrite with the time put
		// back, and a swap.
		writeFile(t, filepath.Join(src, "a.txt"), "alpha-2", epoch)
		for _, mv := range [][2]string{{"a.txt", "t"}, {"b.txt", "a.txt"}, {"t", "b.txt"}} {
			if err := os.Rename(filepath.Join(src, mv[0]), filepath.Join(src, mv[1])); err != nil {
				t.Fatal(err)
			}
		}
		if sum := run(t, p, state); sum.Copied != 2 || sum.Failed != 0 {
			t.Fatalf("after the rewrite and swap: copied %d, failed %d; want 2, 0", sum.Copied, sum.Failed)
		}
		assertSame(t, srcTree(t, src), tree(t, p))
	})
}

// TestSyncDeletes: delete: true removes what the source lost (a file, a
// folder tree), keeps excluded entries, and holds every deletion while the
// source root is empty.
func TestSyncDeletes(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		src, state := t.TempDir(), t.TempDir()
		writeFile(t, filepath.Join(src, "keep.txt"), "k", time.Time{})
		writeFile(t, filepath.Join(src, "gone.txt"), "g", time.Time{})
		writeFile(t, filepath.Join(src, "tree/x/y.txt"), "y", time.Time{})
		writeFile(t, filepath.Join(src, "cache/c.tmp"), "c", time.Time{})
		p := b.pair(t, src)
		p.Delete = true
		run(t, p, state)
		p.Exclude = []string{"cache/"}
		for _, rm := range []string{"gone.txt", "tree", "cache"} {
			if err := os.RemoveAll(filepath.Join(src, rm)); err != nil {
				t.Fatal(err)
			}
		}
		sum := run(t, p, state)
		got := tree(t, p)
		if _, ok := got["cache/c.tmp"]; !ok {
			t.Errorf("excluded cache/c.tmp was deleted")
		}
		delete(got, "cache/c.tmp")
		delete(got, "cache")
		assertSame(t, srcTree(t, src), got)
		if sum.Deleted < 3 {
			t.Errorf("deleted %d, want at least 3", sum.Deleted)
		}

		// An empty source root: nothing is deleted.
		if err := os.Remove(filepath.Join(src, "keep.txt")); err != nil {
			t.Fatal(err)
		}
		if sum := run(t, p, state); sum.Deleted != 0 {
			t.Errorf("empty source: deleted %d, want 0", sum.Deleted)
		}
		if _, ok := tree(t, p)["keep.txt"]; !ok {
			t.Errorf("keep.txt deleted while the source root was empty")
		}
	})
}

// TestSyncWithoutIndex: with the index gone, a sync lists the destination
// and takes entries of the same size and mtime as copied (rsync's rule);
// what differs is copied, and the index is rebuilt.
func TestSyncWithoutIndex(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		src := t.TempDir()
		for i := range 20 {
			writeFile(t, filepath.Join(src, fmt.Sprintf("d%d/f%d", i%3, i)), strings.Repeat("x", i), time.Time{})
		}
		p := b.pair(t, src)
		run(t, p, t.TempDir())
		writeFile(t, filepath.Join(src, "d0/f0"), "changed", time.Time{})
		state := t.TempDir() // a new, empty index
		sum := run(t, p, state)
		if sum.Copied != 1 || sum.UpToDate != 19 {
			t.Fatalf("copied %d, up to date %d; want 1, 19", sum.Copied, sum.UpToDate)
		}
		assertSame(t, srcTree(t, src), tree(t, p))
		settle()
		if sum := run(t, p, state); sum.Copied != 0 {
			t.Fatalf("after the rebuild: copied %d, want 0", sum.Copied)
		}
	})
}

// TestDryRunWritesNothing: a dry run lists the copies and writes nothing.
func TestDryRunWritesNothing(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		src := t.TempDir()
		writeFile(t, filepath.Join(src, "a/b.txt"), "b", time.Time{})
		p := b.pair(t, src)
		var plan bytes.Buffer
		sum := run(t, p, t.TempDir(), &plan)
		if sum.Copied != 1 || !strings.Contains(plan.String(), `copy    p: "a/b.txt"`) {
			t.Fatalf("copied %d, plan %q", sum.Copied, plan.String())
		}
		if got := tree(t, p); len(got) != 0 {
			t.Fatalf("dry run wrote %v", got)
		}
	})
}

// TestChangedSourceNeverStored: a file that changes while it is read is
// not stored; what the destination ends up with is a version the source
// had whole.
func TestChangedSourceNeverStored(t *testing.T) {
	src := t.TempDir()
	path := filepath.Join(src, "big")
	writeFile(t, path, strings.Repeat("a", bufferMax*2), time.Time{})
	f, st, err := openSource(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := backends(t)[0].pair(t, src)
	d, err := Connect(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	cr := &checkedReader{f: f, st: st, left: st.Size, h: nopHash{}}
	first := make([]byte, 4096)
	if _, err := io.ReadFull(cr, first); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, strings.Repeat("b", bufferMax*2), time.Time{}) // same size, new bytes
	err = d.Put(context.Background(), "big", io.MultiReader(bytes.NewReader(first), cr), st.Size, dest.Meta{UID: -1, GID: -1})
	if err == nil || cr.err != errChanged {
		t.Fatalf("Put of a source rewritten while read: err %v, reader %v; want errChanged", err, cr.err)
	}
	if _, err := d.Stat(t.Context(), "big"); err == nil {
		t.Fatal("a torn copy appeared under the name")
	}
}

type nopHash struct{}

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return 0 }
func (nopHash) BlockSize() int              { return 1 }

// TestSyncNoticesEmptiedDestination: a destination emptied (or a bucket
// made again) behind copyd's back is found before the index is trusted,
// and the next sync copies everything again.
func TestSyncNoticesEmptiedDestination(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		src, state := t.TempDir(), t.TempDir()
		for i := range 5 {
			writeFile(t, filepath.Join(src, fmt.Sprintf("d/f%d", i)), fmt.Sprint(i), time.Time{})
		}
		p := b.pair(t, src)
		run(t, p, state)
		d, err := Connect(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		r := newPairRun(p, d, Options{Log: slog.New(slog.DiscardHandler), Progress: new(copysync.Progress)})
		if !r.removeTree(t.Context(), "d") {
			t.Fatal("could not empty the destination")
		}
		d.Close()
		if got := tree(t, p); len(got) != 0 {
			t.Fatalf("destination not empty: %v", got)
		}
		settle()
		if sum := run(t, p, state); sum.Copied != 5 {
			t.Fatalf("after the destination was emptied: copied %d, want 5", sum.Copied)
		}
		assertSame(t, srcTree(t, src), tree(t, p))
	})
}

// TestSyncRenamesOnTheServer: with delete: true, a folder and a file
// renamed within their folder are moved on the server (renamed, or copied
// server-side and removed), not sent again; a file renamed and then
// rewritten in place is sent; without delete the old names stay.
func TestSyncRenamesOnTheServer(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		src, state := t.TempDir(), t.TempDir()
		for i := range 4 {
			writeFile(t, filepath.Join(src, fmt.Sprintf("videos/lesson1/part%d.mp4", i)), strings.Repeat(fmt.Sprint(i), 1000+i), epoch)
		}
		writeFile(t, filepath.Join(src, "videos/lesson1/sub/notes.md"), "notes", epoch)
		writeFile(t, filepath.Join(src, "a.txt"), "alpha", epoch)
		writeFile(t, filepath.Join(src, "c.txt"), "charlie", epoch)
		p := b.pair(t, src)
		p.Delete = true
		run(t, p, state)
		settle()
		rename := func(from, to string) {
			t.Helper()
			if err := os.Rename(filepath.Join(src, from), filepath.Join(src, to)); err != nil {
				t.Fatal(err)
			}
		}
		rename("videos/lesson1", "videos/lesson-01")
		rename("a.txt", "b.txt")
		rename("c.txt", "d.txt")
		writeFile(t, filepath.Join(src, "d.txt"), "CHARLIE", epoch) // same size and mtime, new bytes
		sum := run(t, p, state)
		if sum.Copied != 1 || sum.Failed != 0 {
			t.Errorf("after the renames: copied %d, failed %d; want 1 (d.txt, rewritten), 0", sum.Copied, sum.Failed)
		}
		assertSame(t, srcTree(t, src), tree(t, p))
		settle()
		if sum := run(t, p, state); sum.Copied != 0 {
			t.Errorf("the sync after: copied %d, want 0", sum.Copied)
		}

		// Without delete: the old name stays, the new one is sent.
		p.Delete = false
		rename("b.txt", "e.txt")
		if sum := run(t, p, state); sum.Copied != 1 {
			t.Errorf("without delete: copied %d, want 1", sum.Copied)
		}
		got := tree(t, p)
		if got["b.txt"] != "file alpha" || got["e.txt"] != "file alpha" {
			t.Errorf("without delete: b.txt %q, e.txt %q; want both alpha", got["b.txt"], got["e.txt"])
		}
	})
}

// TestSyncFinishesACutMove: a move on the destination cut short between
// its copy and its removal (a crash) left its intent in the index; the
// next sync lists the destination and removes what the move left, where
// a sync trusting the index would not look.
func TestSyncFinishesACutMove(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		src, state := t.TempDir(), t.TempDir()
		writeFile(t, filepath.Join(src, "new/f"), "f", time.Time{})
		p := b.pair(t, src)
		p.Delete = true
		run(t, p, state)
		// What a crash after the copy of old -> new leaves: old's objects,
		// no records under old, and the intent.
		d, err := Connect(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Mkdir(t.Context(), "old", dest.NoOwner(0o755, time.Time{})); err != nil {
			t.Fatal(err)
		}
		if err := d.Put(t.Context(), "old/f", strings.NewReader("f"), 1, dest.NoOwner(0o644, time.Now())); err != nil {
			t.Fatal(err)
		}
		d.Close()
		r, err := open(t.Context(), p, Options{StateDir: state, Log: slog.New(slog.DiscardHandler), Progress: new(copysync.Progress)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.idx.Unfinished("old")
		r.close()
		settle()
		if sum := run(t, p, state); sum.Deleted < 1 {
			t.Errorf("deleted %d, want old/f and old removed", sum.Deleted)
		}
		assertSame(t, srcTree(t, src), tree(t, p))
		if sum := run(t, p, state); sum.Deleted != 0 || sum.Copied != 0 {
			t.Errorf("the sync after: deleted %d, copied %d; want 0, 0 (the intent is forgotten)", sum.Deleted, sum.Copied)
		}
	})
}

// TestSyncKeepsExcludedAndUnmounted: deletions never reach an excluded
// path (even one the index recorded before it was excluded), nor the
// backup of a disk unmounted from a folder inside the source, nor
// anything while the source root holds only excluded entries.
func TestSyncKeepsExcludedAndUnmounted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs inside the source needs root (CI runs as root)")
	}
	forEach(t, func(t *testing.T, b backend) {
		src, state := t.TempDir(), t.TempDir()
		writeFile(t, filepath.Join(src, "top.txt"), "top", time.Time{})
		writeFile(t, filepath.Join(src, "a.log"), "log", time.Time{})
		disk := filepath.Join(src, "disk")
		if err := os.Mkdir(disk, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", disk).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v %s", err, out)
		}
		mounted := true
		t.Cleanup(func() {
			if mounted {
				exec.Command("umount", disk).Run()
			}
		})
		writeFile(t, filepath.Join(disk, "d1"), "one", time.Time{})
		writeFile(t, filepath.Join(disk, "sub/d2"), "two", time.Time{})
		p := b.pair(t, src)
		p.Delete = true
		run(t, p, state)
		want := tree(t, p)

		// The disk unmounted: its backup stays.
		if out, err := exec.Command("umount", disk).CombinedOutput(); err != nil {
			t.Fatalf("umount: %v %s", err, out)
		}
		mounted = false
		settle()
		if sum := run(t, p, state); sum.Deleted != 0 {
			t.Errorf("after the unmount: deleted %d, want 0", sum.Deleted)
		}
		assertSame(t, want, tree(t, p))

		// a.log excluded, then gone from the source: it stays.
		p.Exclude = []string{"*.log"}
		if err := os.Remove(filepath.Join(src, "a.log")); err != nil {
			t.Fatal(err)
		}
		run(t, p, state)
		if got := tree(t, p); got["a.log"] != "file log" {
			t.Errorf("excluded a.log: destination has %q, want it kept", got["a.log"])
		}

		// Only an excluded file left in the root: nothing is deleted.
		p.Exclude = []string{"*.log", "*.swp", "disk/"}
		for _, f := range []string{"top.txt"} {
			if err := os.Remove(filepath.Join(src, f)); err != nil {
				t.Fatal(err)
			}
		}
		writeFile(t, filepath.Join(src, ".x.swp"), "swap", time.Time{})
		if sum := run(t, p, state); sum.Deleted != 0 {
			t.Errorf("root with only excluded entries: deleted %d, want 0", sum.Deleted)
		}
		if got := tree(t, p); got["top.txt"] != "file top" {
			t.Errorf("top.txt deleted while the root held only excluded entries")
		}
	})
}

// TestSyncNeverWritesThroughADestinationLink: a folder of the backup
// swapped for a symlink on the server (to a folder outside it) is
// replaced by a folder again; nothing is written or deleted where the
// link points. (S3 has no symlinks on the server.)
func TestSyncNeverWritesThroughADestinationLink(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		if b.name == "s3" {
			return // keys, not paths: nothing on the server resolves a link
		}
		src, state := t.TempDir(), t.TempDir()
		for i := range 10 {
			writeFile(t, filepath.Join(src, fmt.Sprintf("r%d", i)), "r", time.Time{})
		}
		writeFile(t, filepath.Join(src, "sub/f"), "f1", time.Time{})
		writeFile(t, filepath.Join(src, "sub/g"), "g", time.Time{})
		p := b.pair(t, src)
		p.Delete = true
		run(t, p, state)
		loc, err := dest.Parse(p.Destination)
		if err != nil {
			t.Fatal(err)
		}
		server := loc.Path // the server runs here: its folder is a local one
		outside := t.TempDir()
		writeFile(t, filepath.Join(outside, "precious"), "keep me", time.Time{})
		if err := os.RemoveAll(filepath.Join(server, "sub")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(server, "sub")); err != nil {
			t.Fatal(err)
		}
		settle()
		writeFile(t, filepath.Join(src, "sub/f"), "f2", time.Time{})
		writeFile(t, filepath.Join(src, "sub/new"), "new", time.Time{})
		run(t, p, state)
		if err := os.RemoveAll(filepath.Join(src, "sub")); err != nil {
			t.Fatal(err)
		}
		run(t, p, state)
		assertSame(t, map[string]string{"precious": "file keep me"}, srcTree(t, outside))
		assertSame(t, srcTree(t, src), tree(t, p))
	})
}

// TestSyncFullDestinationDeletesFirst: a destination with room for the
// mirror but not for old and new side by side (a folder replaced by
// another of the same size) converges with delete: true: the pair deletes
// what the source no longer has first, then copies the rest, and the
// sync counts no failure.
func TestSyncFullDestinationDeletesFirst(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a small tmpfs for a full server needs root (CI runs as root)")
	}
	tmpfs := func(t *testing.T, size string) string {
		dir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
		return dir
	}
	pairs := map[string]func(t *testing.T, src string) config.Pair{
		"s3": func(t *testing.T, src string) config.Pair {
			srv := testserver.StartMinIOIn(t, tmpfs(t, "72m"))
			cl, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.MakeBucket(t.Context(), "full", minio.MakeBucketOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
			return config.Pair{Name: "p", Source: src, Destination: "s3://full/x", S3: config.S3{Endpoint: "http://" + srv.Endpoint, PathStyle: true}}
		},
		"sftp": func(t *testing.T, src string) config.Pair {
			srv := sshdFor(t)
			dir := filepath.Join(srv.Root, "small")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", dir).CombinedOutput(); err != nil {
				t.Fatalf("mount: %v %s", err, out)
			}
			t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
			return config.Pair{Name: "p", Source: src, Destination: srv.URL("/small"), SFTP: config.SFTP{KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts}}
		},
	}
	for _, name := range []string{"s3", "sftp"} {
		t.Run(name, func(t *testing.T) {
			src, state := t.TempDir(), t.TempDir()
			// Old and new differ in content (the same bytes would be
			// moved, not sent: rm -rf old; mkdir new may reuse the inodes).
			for i := range 10 {
				writeFile(t, filepath.Join(src, fmt.Sprintf("old/o%d", i)), strings.Repeat("o", 4<<20), time.Time{})
			}
			p := pairs[name](t, src)
			p.Delete = true
			if sum := run(t, p, state); sum.Failed != 0 {
				t.Fatalf("first sync: failed %d", sum.Failed)
			}
			if err := os.RemoveAll(filepath.Join(src, "old")); err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				writeFile(t, filepath.Join(src, fmt.Sprintf("new/n%d", i)), strings.Repeat("n", 4<<20), time.Time{})
			}
			logged()
			sum := run(t, p, state)
			if l := logged(); !strings.Contains(l, "destination is full; deleting what the source no longer has") {
				t.Errorf("the destination never filled up: the test tests nothing; make the tmpfs smaller")
			}
			if sum.Deleted < 10 {
				t.Errorf("sync into the full destination: deleted %d, want the 10 old files first", sum.Deleted)
			}
			got, want := tree(t, p), srcTree(t, src)
			if name == "s3" && sum.Failed > 0 {
				// MinIO frees a deleted object's space only when it empties
				// its trash, minutes later: the sync may stop after its
				// waits, counting what did not fit. What is there is right.
				for k, v := range got {
					if want[k] != v {
						t.Errorf("%s: destination has %q, the source %q", k, clip(v), clip(want[k]))
					}
				}
				return
			}
			if sum.Failed != 0 {
				t.Errorf("sync into the full destination: failed %d, want 0", sum.Failed)
			}
			assertSame(t, want, got)
		})
	}
}

// TestSyncTimesTheDestinationCannotKeep: a file dated before 1970 (or
// after 2106) is stored on SFTP with the nearest time SFTP carries, not
// refused: its content is backed up, and the next sync copies nothing.
func TestSyncTimesTheDestinationCannotKeep(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		src, state := t.TempDir(), t.TempDir()
		writeFile(t, filepath.Join(src, "old.txt"), "from 1960", time.Date(1960, 5, 6, 7, 8, 9, 0, time.UTC))
		writeFile(t, filepath.Join(src, "far.txt"), "from 2200", time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
		p := b.pair(t, src)
		if sum := run(t, p, state); sum.Copied != 2 || sum.Failed != 0 {
			t.Fatalf("copied %d, failed %d; want 2, 0", sum.Copied, sum.Failed)
		}
		assertSame(t, srcTree(t, src), tree(t, p))
		settle()
		if sum := run(t, p, state); sum.Copied != 0 {
			t.Errorf("the sync after: copied %d, want 0", sum.Copied)
		}
	})
}
