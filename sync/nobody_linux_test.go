package sync

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/config"
)

// nobody is the unprivileged user the permission scenarios run as.
var nobody = &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}

// chownTree gives everything under dir to nobody.
func chownTree(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(nobody.Uid), int(nobody.Gid))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSyncAsNobody runs Sync as uid/gid 65534 in a child process, so that
// permission checks apply: root reads everything.
func TestSyncAsNobody(t *testing.T) {
	if serveChild(t) {
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("running as another user needs root, and as this non-root user the test cannot create files it may not read; run the tests as root (CI does)")
	}
	t.Parallel()
	world := worldDir(t)
	c := newChild(t, world, nobody)

	// pairIn makes a pair in a fresh folder under world: the source owned
	// by root and readable by all, the destination still to be created.
	pairIn := func(t *testing.T) config.Pair {
		t.Helper()
		base, err := os.MkdirTemp(world, "case-")
		if err != nil {
			t.Fatal(err)
		}
		chmod(t, base, 0o777)
		p := config.Pair{Name: "test", Source: filepath.Join(base, "src"), Destination: filepath.Join(base, "dst")}
		mkdirAll(t, p.Source)
		return p
	}

	t.Run("unreadable file", func(t *testing.T) {
		t.Parallel()
		p := pairIn(t)
		writeTree(t, p.Source, map[string]string{"a.txt": "alpha", "sub/b.txt": "bravo", "sub/c.txt": "charlie"})
		writeFile(t, filepath.Join(p.Source, "sub/secret.txt"), "root only", 0o600, baseTime)

		res := c.sync(t, 2*time.Minute, filepath.Dir(p.Source), p)
		res.check(t, want{3, 0, 0, 0, 1})
		if len(res.Failures) != 1 || res.Failures[0].Path != "sub/secret.txt" || !res.Failures[0].Permission {
			t.Errorf("Sync() failures = %s, want one on sub/secret.txt matching fs.ErrPermission", res.failureList())
		}
		assertMissing(t, filepath.Join(p.Destination, "sub/secret.txt"))
		assertTreesEqual(t, p.Source, p.Destination, "sub/secret.txt")
		assertNoTemps(t, p.Destination)
	})

	t.Run("unreadable folder stops deletions", func(t *testing.T) {
		t.Parallel()
		p := pairIn(t)
		p.Delete = true
		writeTree(t, p.Source, map[string]string{"a.txt": "alpha", "open/b.txt": "bravo", "locked/c.txt": "charlie"})
		chmod(t, filepath.Join(p.Source, "locked"), 0o700)
		writeTree(t, p.Destination, map[string]string{"extra.txt": "keep", "open/extra.txt": "keep", "locked/c.txt": "old"})
		chownTree(t, p.Destination) // nobody could delete them: only the brake may stop it

		res := c.sync(t, 2*time.Minute, filepath.Dir(p.Source), p)
		res.check(t, want{2, 0, 0, 0, 1})
		if len(res.Failures) != 1 || res.Failures[0].Path != "locked" || !res.Failures[0].Permission {
			t.Errorf("Sync() failures = %s, want one on locked matching fs.ErrPermission", res.failureList())
		}
		assertContent(t, filepath.Join(p.Destination, "extra.txt"), "keep")
		assertContent(t, filepath.Join(p.Destination, "open/extra.txt"), "keep")
		assertContent(t, filepath.Join(p.Destination, "locked/c.txt"), "old")
		assertTreesEqual(t, p.Source, p.Destination, "locked", "extra.txt", "open/extra.txt")
		assertNoTemps(t, p.Destination)
	})

	// A read-only source folder gives a read-only destination folder; as
	// a non-root user copyd must still update it on the next run.
	t.Run("read-only folder is updated on the next run", func(t *testing.T) {
		t.Parallel()
		p := pairIn(t)
		writeTree(t, p.Source, map[string]string{"ro/f.txt": "v1", "ro/old.txt": "old"})
		chmod(t, filepath.Join(p.Source, "ro"), 0o555)

		res := c.sync(t, 2*time.Minute, filepath.Dir(p.Source), p)
		res.check(t, want{2, 0, 0, 0, 0})
		assertTreesEqual(t, p.Source, p.Destination)

		writeFile(t, filepath.Join(p.Source, "ro/f.txt"), "v2", 0o644, baseTime.Add(time.Hour))
		writeTree(t, p.Source, map[string]string{"ro/new.txt": "new"})
		removeAll(t, filepath.Join(p.Source, "ro/old.txt"))
		p.Delete = true
		res = c.sync(t, 2*time.Minute, filepath.Dir(p.Source), p)
		res.check(t, want{2, 0, 1, 0, 0})
		assertTreesEqual(t, p.Source, p.Destination)
		assertNoTemps(t, p.Destination)
	})
}
