//go:build unix

package nofollow

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tree makes root/real/{f,sub/g}, root/rel -> real, root/abs -> victim
// (a folder outside root with the same names) and root/flink -> victim/f;
// it returns root and victim.
func tree(t *testing.T) (root, victim string) {
	t.Helper()
	base := t.TempDir()
	root, victim = filepath.Join(base, "root"), filepath.Join(base, "victim")
	for _, d := range []string{root, victim} {
		if err := os.MkdirAll(filepath.Join(d, "real", "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"real/f", "real/sub/g", "f"} {
			if err := os.WriteFile(filepath.Join(d, f), []byte(d), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for link, target := range map[string]string{"rel": "real", "abs": filepath.Join(victim, "real"), "flink": filepath.Join(victim, "f")} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root, victim
}

// snapshot describes victim: every entry's mode, size and mtime.
func snapshot(t *testing.T, victim string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(victim, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		out[p] = fi.Mode().String() + fi.ModTime().String() + string(rune(fi.Size()))
		return nil
	})
	return out
}

// bothWays runs f with openat2 and with the walk that replaces it.
func bothWays(t *testing.T, f func(t *testing.T)) {
	t.Run("openat2", f)
	t.Run("walk", func(t *testing.T) {
		forceWalk(t)
		f(t)
	})
}

func TestRefusesSymlinkAtAnyComponent(t *testing.T) {
	bothWays(t, func(t *testing.T) {
		root, victim := tree(t)
		before := snapshot(t, victim)
		ops := []struct {
			name string
			do   func(p string) error
		}{
			{"open", func(p string) error {
				fd, err := Open(p, unix.O_RDONLY, 0)
				if err == nil {
					unix.Close(fd)
				}
				return err
			}},
			{"create", func(p string) error {
				fd, err := Open(p+".new", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644)
				if err == nil {
					unix.Close(fd)
				}
				return err
			}},
			{"lstat", func(p string) error { var st unix.Stat_t; return Lstat(p, &st) }},
			{"mkdir", func(p string) error { return Mkdir(p+".d", 0o755) }},
			{"mkdirall", func(p string) error { return MkdirAll(filepath.Join(p+".d", "x"), 0o755) }},
			{"remove", func(p string) error { return Remove(p) }},
			{"removeall", func(p string) error { return RemoveAll(filepath.Dir(p)) }},
			{"rename away", func(p string) error { return Rename(p, filepath.Join(root, "moved")) }},
			{"rename onto", func(p string) error { return Rename(filepath.Join(root, "real", "f"), p) }},
			{"symlink", func(p string) error { return Symlink("x", p+".l") }},
			{"chmod", func(p string) error { return Chmod(p, 0o600) }},
			{"lchown", func(p string) error { return Lchown(p, os.Getuid(), os.Getgid()) }},
			{"chtimes", func(p string) error { return Chtimes(p, time.Time{}, time.Unix(1, 0)) }},
		}
		for _, op := range ops {
			for _, via := range []string{"rel", "abs"} {
				p := filepath.Join(root, via, "sub", "g")
				if op.name == "removeall" {
					p = filepath.Join(root, via, "sub", "g", "x") // removes root/via/sub/g
				}
				if err := op.do(p); !errors.Is(err, unix.ELOOP) {
					t.Errorf("%s through %s: error = %v, want ELOOP", op.name, via, err)
				}
			}
		}
		// The last component: a symlink to a file outside is never followed.
		fd, err := Open(filepath.Join(root, "flink"), unix.O_RDONLY, 0)
		if !errors.Is(err, unix.ELOOP) {
			unix.Close(fd)
			t.Errorf("open of a symlink: error = %v, want ELOOP", err)
		}
		if err := Chmod(filepath.Join(root, "flink"), 0o600); err == nil {
			t.Errorf("chmod of a symlink succeeded")
		}
		if err := Chtimes(filepath.Join(root, "flink"), time.Time{}, time.Unix(1, 0)); err != nil {
			t.Errorf("chtimes of a symlink itself: %v", err)
		}
		if got := snapshot(t, victim); len(got) != len(before) {
			t.Fatalf("victim changed: %d entries, was %d", len(got), len(before))
		} else {
			for p, v := range before {
				if got[p] != v {
					t.Errorf("victim entry %s changed", p)
				}
			}
		}
	})
}

func TestWorksOnRealPaths(t *testing.T) {
	bothWays(t, func(t *testing.T) {
		root, _ := tree(t)
		real := filepath.Join(root, "real")
		must := func(what string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		var st unix.Stat_t
		must("lstat", Lstat(filepath.Join(real, "sub", "g"), &st))
		must("lstat of a symlink", Lstat(filepath.Join(root, "flink"), &st))
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Errorf("lstat of a symlink: mode %o", st.Mode)
		}
		must("mkdirall", MkdirAll(filepath.Join(real, "a", "b", "c"), 0o755))
		must("mkdirall again", MkdirAll(filepath.Join(real, "a", "b", "c"), 0o755))
		must("symlink", Symlink("../f", filepath.Join(real, "a", "l")))
		target, err := Readlink(filepath.Join(real, "a", "l"))
		must("readlink", err)
		if target != "../f" {
			t.Errorf("readlink = %q", target)
		}
		must("rename", Rename(filepath.Join(real, "f"), filepath.Join(real, "a", "f2")))
		must("rename in one folder", Rename(filepath.Join(real, "a", "f2"), filepath.Join(real, "a", "f3")))
		must("chmod", Chmod(filepath.Join(real, "a", "f3"), 0o600))
		must("chtimes", Chtimes(filepath.Join(real, "a", "f3"), time.Time{}, time.Unix(12345, 6789)))
		must("lstat", Lstat(filepath.Join(real, "a", "f3"), &st))
		if st.Mode&0o777 != 0o600 || st.Mtim.Sec != 12345 || st.Mtim.Nsec != 6789 {
			t.Errorf("after chmod and chtimes: mode %o mtime %v", st.Mode&0o777, st.Mtim)
		}
		f, err := OpenFile(filepath.Join(real, "sub", "g"), unix.O_RDONLY, 0)
		must("openfile", err)
		f.Close()
		must("removeall", RemoveAll(filepath.Join(real, "a")))
		must("removeall of nothing", RemoveAll(filepath.Join(real, "a")))
		if err := Lstat(filepath.Join(real, "a"), &st); !errors.Is(err, unix.ENOENT) {
			t.Errorf("after removeall: %v", err)
		}
		// RemoveAll of a symlink to a folder removes the link only.
		must("removeall of a link", RemoveAll(filepath.Join(root, "abs")))
		must("remove", Remove(filepath.Join(real, "sub", "g")))
		must("remove folder", Remove(filepath.Join(real, "sub")))
	})
}

// TestChtimesBeyondNanoseconds sets times that int64 nanoseconds since
// 1970 cannot hold (after 2262-04-11; ext4 keeps times up to 2446) on a
// file, a folder and a symlink itself: they arrive to the nanosecond, as
// touch -d sets them.
func TestChtimesBeyondNanoseconds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f, sub, link := filepath.Join(dir, "f"), filepath.Join(dir, "sub"), filepath.Join(dir, "link")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", link); err != nil {
		t.Fatal(err)
	}
	// Some file systems stop at 2038 (XFS without bigtime): ask the
	// kernel directly first.
	probe := unix.Timespec{Sec: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC).Unix()}
	var st unix.Stat_t
	if err := unix.UtimesNano(f, []unix.Timespec{probe, probe}); err != nil || unix.Lstat(f, &st) != nil || st.Mtim.Sec != probe.Sec {
		t.Skipf("the file system of %s does not keep the year 2300 (%v)", dir, err)
	}
	for _, mtime := range []time.Time{
		time.Date(2300, 1, 1, 0, 0, 0, 500_000_000, time.UTC),
		time.Date(2400, 6, 1, 12, 0, 0, 7, time.UTC),
	} {
		for _, p := range []string{f, sub, link} {
			if err := Chtimes(p, time.Time{}, mtime); err != nil {
				t.Fatalf("Chtimes(%s, %v) error = %v", p, mtime, err)
			}
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.ModTime().Equal(mtime) {
				t.Errorf("Chtimes(%s, %v): mtime %v", filepath.Base(p), mtime, fi.ModTime())
			}
		}
	}
}

// TestRemoveAllRacingRemovals removes a tree while other goroutines remove
// folders inside it, as copyd's jobs do: RemoveAll of the top must not
// report success while the top is still there. It used to, when a folder
// inside vanished between its unlink and its open (ENOENT from below was
// taken for "the top is gone").
func TestRemoveAllRacingRemovals(t *testing.T) {
	t.Parallel()
	for round := range 60 {
		top := filepath.Join(t.TempDir(), "top")
		for i := range 8 {
			for j := range 4 {
				p := filepath.Join(top, fmt.Sprintf("d%d", i), fmt.Sprintf("e%d", j))
				if err := os.MkdirAll(p, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(p, "f"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() { _ = RemoveAll(filepath.Join(top, fmt.Sprintf("d%d", i))) })
		}
		err := RemoveAll(top)
		wg.Wait()
		if err != nil {
			t.Fatalf("round %d: RemoveAll() error = %v", round, err)
		}
		if _, err := os.Lstat(top); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("round %d: RemoveAll() = nil but %s is still there (Lstat: %v)", round, top, err)
		}
	}
}
