//go:build linux

package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/copyd/copyd/internal/treetest"
)

// The tests of this file race symlinks against copyd, in the source and
// in the destination, and prove its guarantee: it never reads a file
// outside the source root and never writes, chmods, chowns, retimes or
// deletes anything outside the destination root, whatever symbolic links
// appear in either tree, at any moment. Each test fails on a copyd that
// opens paths by their absolute name with O_NOFOLLOW on the last component
// only, since the kernel follows a link at any folder above it; a few of
// their cases (a link as the last component) check what such a copyd
// already gets right, so that a fix keeps it.
//
// Victims live outside both roots. Their files hold "SECRET-n", which
// must never reach a destination (or the archive, which keeps what copyd
// replaced, so that a secret copied and then removed is still seen), and
// a victimState taken before must match after: nothing created, removed,
// written, chmod'ed, chown'ed or retimed, the victim folder itself
// included.

// escapeWait bounds the waits of this file that today's copyd may never
// satisfy (a destination it wrote through a link cannot converge), so
// that a failing test fails within its time budget.
const escapeWait = 10 * time.Second

// secret is what victim files hold and copies must never hold.
const secret = "SECRET"

// victimEntry is what copyd could change about one entry by writing,
// replacing, chmod'ing, chown'ing or retiming it: the inode number and
// ctime catch even a change that puts the old mode or mtime back.
type victimEntry struct {
	Ino          uint64
	Mode         fs.FileMode
	UID, GID     uint32
	Size         int64
	Mtime, Ctime unix.Timespec
	Sum          [32]byte // of the content, or of a symlink's target
}

// victimState lists everything under root, root itself as ".", never
// following symlinks.
func victimState(t *testing.T, root string) map[string]victimEntry {
	t.Helper()
	m := map[string]victimEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return &fs.PathError{Op: "lstat", Path: p, Err: err}
		}
		e := victimEntry{Ino: st.Ino, UID: st.Uid, GID: st.Gid, Size: st.Size, Mtime: st.Mtim, Ctime: st.Ctim}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e.Mode = fi.Mode()
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.Sum = sha256.Sum256(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			e.Sum = sha256.Sum256([]byte(target))
		}
		m[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatalf("list victim %s: %v", root, err)
	}
	return m
}

// assertVictimUnchanged fails the test for each entry under root that
// differs from before, vanished or appeared.
func assertVictimUnchanged(t *testing.T, before map[string]victimEntry, root string) {
	t.Helper()
	after := victimState(t, root)
	var diffs []string
	for rel, b := range before {
		a, ok := after[rel]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%q vanished", rel))
		case a != b:
			diffs = append(diffs, fmt.Sprintf("%q changed: %s", rel, victimDiff(b, a)))
		}
	}
	for rel := range after {
		if _, ok := before[rel]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q appeared", rel))
		}
	}
	slices.Sort(diffs)
	for _, d := range diffs[:min(len(diffs), 5)] {
		t.Errorf("victim %s outside the roots: %s", root, d)
	}
	if len(diffs) > 5 {
		t.Errorf("... and %d more changes in the victim", len(diffs)-5)
	}
}

// victimDiff names the fields that differ between b (before) and a.
func victimDiff(b, a victimEntry) string {
	var s []string
	if a.Ino != b.Ino {
		s = append(s, "replaced (new inode)")
	}
	if a.Mode != b.Mode {
		s = append(s, fmt.Sprintf("mode %v, was %v", a.Mode, b.Mode))
	}
	if a.UID != b.UID || a.GID != b.GID {
		s = append(s, fmt.Sprintf("owner %d:%d, was %d:%d", a.UID, a.GID, b.UID, b.GID))
	}
	if a.Mtime != b.Mtime {
		s = append(s, fmt.Sprintf("mtime %v, was %v", time.Unix(a.Mtime.Unix()), time.Unix(b.Mtime.Unix())))
	}
	if a.Size != b.Size || a.Sum != b.Sum {
		s = append(s, "content changed")
	}
	if len(s) == 0 && a.Ctime != b.Ctime {
		s = append(s, "ctime moved (metadata set to the same values)")
	}
	return strings.Join(s, ", ")
}

// secretsIn returns the regular files under roots that hold the secret,
// never following symlinks; roots that do not exist hold none. Entries
// that vanish during the walk are skipped (a daemon may be at work).
func secretsIn(t *testing.T, roots ...string) []string {
	t.Helper()
	var found []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(secret)) {
				found = append(found, fmt.Sprintf("%s (%q)", p, bytes.TrimSpace(b)))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("look for secrets under %s: %v", root, err)
		}
	}
	return found
}

// assertNoSecrets fails the test for each file under roots that holds the
// secret: copyd read a victim through a symlink.
func assertNoSecrets(t *testing.T, roots ...string) {
	t.Helper()
	found := secretsIn(t, roots...)
	for _, f := range found[:min(len(found), 5)] {
		t.Errorf("copied from outside the source: %s", f)
	}
	if len(found) > 5 {
		t.Errorf("... and %d more files copied from outside the source", len(found)-5)
	}
}

// makeFiles writes n files f00, f01, ... into dir, file i holding
// format with i.
func makeFiles(t *testing.T, dir string, n int, format string) {
	t.Helper()
	mkdir(t, dir)
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d", i)), fmt.Appendf(nil, format, i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// makeVictim makes dir a folder of n secret files named like makeFiles's
// (plus the folders of sub, each with the same files), with old, distinct
// mtimes, so that a retime or a rewrite shows.
func makeVictim(t *testing.T, dir string, n int, sub ...string) {
	t.Helper()
	for _, s := range append([]string{""}, sub...) {
		makeFiles(t, filepath.Join(dir, s), n, secret+"-%d\n")
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		old = old.Add(time.Second)
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// retime sets the mtime of every regular file under root to mtime.
func retime(t *testing.T, root string, mtime time.Time) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		return os.Chtimes(p, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// exchange swaps the paths a and b atomically (renameat2
// RENAME_EXCHANGE). Unlike idrExchange it returns its error, for use off
// the test goroutine.
func exchange(a, b string) error {
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("exchange %s and %s: %w", a, b, err)
	}
	return nil
}

// exchangeInDest is exchange for a destination path, which copyd may
// have taken away for a moment (a symlink removed before the folder that
// replaces it is made): that swap is skipped.
func exchangeInDest(a, b string) error {
	if err := exchange(a, b); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// churn runs each of fns over and over in a goroutine of its own until
// stop is called; a function's error ends its loop and is reported by
// stop, which waits for every goroutine and returns how many rounds each
// made.
func churn(t *testing.T, fns ...func(i int) error) (stop func() []int) {
	t.Helper()
	done := make(chan struct{})
	rounds := make([]int, len(fns))
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for k, fn := range fns {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					rounds[k] = i
					return
				default:
				}
				if err := fn(i); err != nil {
					errs[k], rounds[k] = err, i
					return
				}
			}
		})
	}
	var once sync.Once
	stop = func() []int {
		t.Helper()
		once.Do(func() {
			close(done)
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Errorf("churn: %v", err)
			}
		})
		return rounds
	}
	t.Cleanup(func() { stop() })
	return stop
}

// pace returns a function that sleeps until every to have passed since
// its last return: it paces a load generator (it synchronises nothing).
func pace(every time.Duration) func() {
	next := time.Now()
	return func() {
		next = next.Add(every)
		time.Sleep(time.Until(next))
	}
}

// waitSame waits until dst matches src, within escapeWait.
func (d *daemon) waitSame(src, dst string) {
	d.t.Helper()
	d.waitFor(escapeWait, func() error { return treetest.Compare(src, dst) })
}

// TestSymlinkEscapeSourceFolderSwap rewrites every file of src/D, so that
// a path job is queued for each, and at once replaces src/D with a symlink
// to a victim folder holding files of the same names: the jobs must not
// copy the victim's files into dst/D, and once the daemon has settled dst/D
// is a symlink with the same target text. Five rounds per link kind, each
// turning src/D back into a real folder first. The pair archives what it
// replaces, so that a secret copied into dst/D and then removed with it is
// still found.
func TestSymlinkEscapeSourceFolderSwap(t *testing.T) {
	t.Parallel()
	const files, rounds = 50, 5
	tests := []struct {
		name   string
		target func(victim string) string // the text of the link src/D
	}{
		{"absolute", func(victim string) string { return victim }},
		{"relative", func(victim string) string { return filepath.Join("..", filepath.Base(victim)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
			archive, victim := filepath.Join(base, "archive"), filepath.Join(base, "victim")
			mkdir(t, archive)
			makeVictim(t, victim, files)
			before := victimState(t, victim)
			defer func() { assertVictimUnchanged(t, before, victim) }() // also when a wait below fails
			payload := strings.Repeat("x", 32<<10)                      // copies that take a little time
			makeFiles(t, filepath.Join(src, "D"), files, "round 0, file %d\n"+payload)
			cfg := filepath.Join(base, "copyd.yaml")
			writeConfig(t, cfg, pairYAML("src", src, dst, "delete: true", fmt.Sprintf("archive: %q", archive)))
			d := startRun(t, nil, "-c", cfg)
			d.waitWatching("src")
			link := filepath.Join(src, "D")
			for round := range rounds {
				d.waitSame(src, dst)
				for i := range files {
					write(t, filepath.Join(link, fmt.Sprintf("f%02d", i)), fmt.Sprintf("round %d, file %d, edited\n%s", round, i, payload))
				}
				remove(t, link)
				if err := os.Symlink(tt.target(victim), link); err != nil {
					t.Fatal(err)
				}
				// Written last: dst matches only once its event, which
				// came after all the others, has been handled too.
				write(t, filepath.Join(src, "sentinel"), fmt.Sprint("round ", round))
				d.waitSame(src, dst)
				assertNoSecrets(t, dst, archive)
				if t.Failed() {
					t.Fatalf("round %d of %d: copyd read the victim through src/D -> %s", round+1, rounds, tt.target(victim))
				}
				remove(t, link)
				makeFiles(t, link, files, fmt.Sprintf("round %d, file %%d\n%s", round+1, payload))
			}
			d.settleBeforeStop(src, dst)
			d.stopOK(syscall.SIGTERM)
			assertNoSecrets(t, dst, archive)
			treetest.AssertTreesEqual(t, src, dst)
			assertNoTemps(t, dst)
		})
	}
}

// settleBeforeStop writes a sentinel into src and waits until the daemon
// has gone idle after it ("changes copied" is logged once no job runs)
// and dst matches src: a copy that a retry starts after the trees first
// match, then aborted by the stop, would otherwise touch a folder's mtime
// after the comparison (seen once in CI).
func (d *daemon) settleBeforeStop(src, dst string) {
	d.t.Helper()
	mark := d.mark()
	write(d.t, filepath.Join(src, "sentinel"), "before the stop")
	d.waitLog(mark, match{msg: "changes copied"})
	d.waitSame(src, dst)
}

// TestSymlinkEscapeSyncScan runs `copyd sync` over 100 folders of 30
// files while a goroutine keeps exchanging 20 of the folders with
// symlinks to a victim folder holding files of the same names (absolute
// and relative links): a scan that listed a real folder and then opens its
// files by name must not read the victim's, and no copy may go through a
// link copied into the destination. Two runs per mode, each with new
// mtimes in the source so that it copies everything again; then, with the
// folders back, a last sync --delete must make dst match.
func TestSymlinkEscapeSyncScan(t *testing.T) {
	t.Parallel()
	const folders, files, runs = 100, 30, 2
	tests := []struct {
		name  string
		flags []string
	}{
		{"sync", nil},
		{"sync --delete", []string{"--delete"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
			victim, links := filepath.Join(base, "victim"), filepath.Join(base, "links")
			makeVictim(t, victim, files)
			before := victimState(t, victim)
			defer func() { assertVictimUnchanged(t, before, victim) }()
			for i := range folders {
				makeFiles(t, filepath.Join(src, fmt.Sprintf("d%03d", i)), files, fmt.Sprintf("folder %d, file %%d\n", i))
			}
			// links/dNNN is the symlink that takes src/dNNN's place.
			mkdir(t, links)
			var swapped []string
			for k, i := 0, 0; i < folders; k, i = k+1, i+folders/20 {
				name := fmt.Sprintf("d%03d", i)
				target := victim
				if k%2 == 1 {
					target = filepath.Join("..", "victim") // from src and from dst alike
				}
				if err := os.Symlink(target, filepath.Join(links, name)); err != nil {
					t.Fatal(err)
				}
				swapped = append(swapped, name)
			}
			for run := range runs {
				// New mtimes: every run copies every file again, over what
				// the last one left (links included).
				if run > 0 {
					retime(t, src, time.Date(2020, 1, 1, 0, 0, run, 0, time.UTC))
				}
				// Paced, so that the swaps leave copyd the CPU it needs
				// to finish within the time budget.
				swapPace := pace(200 * time.Microsecond)
				stop := churn(t, func(int) error {
					swapPace()
					for _, name := range swapped {
						if err := exchange(filepath.Join(src, name), filepath.Join(links, name)); err != nil {
							return err
						}
					}
					return nil
				})
				start := time.Now()
				r := copyd(t, append(append([]string{"sync", "--progress", "never"}, tt.flags...), src, dst)...)
				swaps := stop()[0]
				t.Logf("run %d: %d swap rounds during %v, exit %d", run+1, swaps, time.Since(start).Round(time.Millisecond), r.code)
				if r.code == 2 {
					t.Fatalf("copyd sync: %s", r)
				}
				// An odd count left the links in src: put the folders back.
				if fi, err := os.Lstat(filepath.Join(src, swapped[0])); err == nil && !fi.IsDir() {
					for _, name := range swapped {
						if err := exchange(filepath.Join(src, name), filepath.Join(links, name)); err != nil {
							t.Fatal(err)
						}
					}
				}
				assertNoSecrets(t, dst)
				if t.Failed() {
					t.Fatalf("run %d of %d: copyd sync read the victim through a swapped folder", run+1, runs)
				}
			}
			r := copyd(t, "sync", "--progress", "never", "--delete", src, dst)
			if r.code != 0 {
				t.Errorf("copyd sync --delete with the folders back: %s", r)
			}
			treetest.AssertTreesEqual(t, src, dst)
			assertNoTemps(t, dst)
		})
	}
}

// TestSymlinkEscapeDestFolderSwap keeps adding, rewriting and removing
// files in src/D/sub for two seconds while a goroutine keeps putting a
// symlink to a victim folder (which has a sub folder with files of the
// same names) in the place of dst/D, for a few milliseconds at a time:
// copyd must create, write, replace, chmod, retime and delete nothing in
// it. The link takes dst/D's place with renameat2(RENAME_EXCHANGE), so
// dst/D is never missing: a copyd that sees it missing (or a link) scans
// all of D, and that scan, postponed by every new event below D, would
// hide the race until the writes stop. At the end the link is left in
// place and a file is written in src/D: dst/D must become a real folder
// again with the source's content (copyd does not watch its destination).
func TestSymlinkEscapeDestFolderSwap(t *testing.T) {
	t.Parallel()
	const writeFor = 2 * time.Second
	tests := []struct {
		name     string
		relative bool
		flags    []string
	}{
		{"absolute", false, nil},
		{"relative", true, nil},
		{"absolute --delete", false, []string{"--delete"}},
		{"relative --delete", true, []string{"--delete"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
			victim := filepath.Join(base, "victim2")
			makeVictim(t, victim, 5, "sub")
			target := victim
			if tt.relative {
				target = filepath.Join("..", "victim2") // from dst
			}
			before := victimState(t, victim)
			defer func() { assertVictimUnchanged(t, before, victim) }()
			makeFiles(t, filepath.Join(src, "D", "sub"), 5, "sub %d\n")
			makeFiles(t, filepath.Join(src, "D"), 5, "top %d\n")
			d := runPaths(t, src, dst, tt.flags...)
			d.waitSame(src, dst)
			dstD, link := filepath.Join(dst, "D"), filepath.Join(base, "link")
			// relink makes link a symlink to the victim again, after a
			// copyd that replaced the link in dst/D left its folder there.
			relink := func() error {
				if fi, err := os.Lstat(link); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
					return nil
				}
				if err := os.RemoveAll(link); err != nil {
					return err
				}
				return os.Symlink(target, link)
			}
			if err := relink(); err != nil {
				t.Fatal(err)
			}
			sub := filepath.Join(src, "D", "sub")
			writerPace, swapPace := pace(2*time.Millisecond), pace(3*time.Millisecond)
			stop := churn(t,
				func(i int) error {
					writerPace()
					// New names, and the victim's names (f00 to f04)
					// rewritten and removed.
					old := filepath.Join(sub, fmt.Sprintf("f%02d", i%5))
					switch i % 4 {
					case 0:
						if err := os.Remove(old); err != nil && !errors.Is(err, fs.ErrNotExist) {
							return err
						}
						return nil
					case 1:
						return os.WriteFile(old, fmt.Appendf(nil, "write %d\n", i), 0o644)
					default:
						return os.WriteFile(filepath.Join(sub, fmt.Sprintf("new%04d", i)), fmt.Appendf(nil, "write %d\n", i), 0o644)
					}
				},
				func(int) error {
					if err := relink(); err != nil {
						return err
					}
					if err := exchangeInDest(dstD, link); err != nil { // the link in dst
						return err
					}
					swapPace()
					if err := exchangeInDest(dstD, link); err != nil { // copyd's folder back
						return err
					}
					swapPace()
					return nil
				},
			)
			time.Sleep(writeFor) // the length of the load, not a synchronisation
			n := stop()
			t.Logf("%d writes, %d swaps", n[0], 2*n[1])
			d.waitFor(escapeWait, func() error { // leave the link in dst/D
				if err := relink(); err != nil {
					return err
				}
				return exchange(dstD, link)
			})
			write(t, filepath.Join(src, "D", "last"), "last")
			d.waitSame(src, dst)
			d.stopOK(syscall.SIGTERM)
			treetest.AssertTreesEqual(t, src, dst)
			assertNoTemps(t, dst)
		})
	}
}

// TestSymlinkEscapeDestFileLink replaces a destination file, or a folder
// above it, with a symlink to a victim (a file with the same size and mode
// 0644, an old mtime), then changes the source file's mode and mtime and
// keeps its content: copyd must not chmod, retime or replace the victim
// through the link, and the destination must end with a regular file with
// the source's content, mode and mtime (and real folders above it).
func TestSymlinkEscapeDestFileLink(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		file   string // the source file changed
		link   string // the destination path made a symlink
		target string // its target, below the victim folder
	}{
		{"file is a link", "f00", "f00", "f00"},
		{"folder above is a link", "a/b/f00", "a", "."},
		{"parent folder is a link", "a/b/f00", "a/b", "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			victim := filepath.Join(base, "victim")
			makeVictim(t, victim, 1, "b")
			// As long as the victim's "SECRET-0\n": only the mode and
			// mtime tell them apart.
			content := "public-0\n"
			_, src, dst := dirs(t, map[string]string{"f00": content, "a/b/f00": content, "a/b/g": "g"})
			d := runPaths(t, src, dst)
			d.waitSame(src, dst)
			before := victimState(t, victim)
			defer func() { assertVictimUnchanged(t, before, victim) }()
			remove(t, filepath.Join(dst, tt.link))
			if err := os.Symlink(filepath.Join(victim, tt.target), filepath.Join(dst, tt.link)); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(src, tt.file)
			chmod(t, p, 0o600)
			when := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
			if err := os.Chtimes(p, when, when); err != nil {
				t.Fatal(err)
			}
			d.waitSame(src, dst)
			d.stopOK(syscall.SIGTERM)
			treetest.AssertTreesEqual(t, src, dst)
			assertNoTemps(t, dst)
		})
	}
}

// TestSymlinkEscapeDestFileSwapRace changes the mode and mtime of ten
// source files over and over (content kept, so copyd sets metadata rather
// than copy) while a goroutine keeps exchanging each destination file with
// a symlink to a victim file: copyd checks the destination, then chmods
// and retimes it, and the link may take the file's place in between; the
// victim files must keep their mode, mtime and ctime.
func TestSymlinkEscapeDestFileSwapRace(t *testing.T) {
	t.Parallel()
	const files, flipFor = 10, 3 * time.Second
	base, src, dst := dirs(t, nil)
	makeFiles(t, src, files, "public-%d\n")
	victim, links := filepath.Join(base, "victim"), filepath.Join(base, "links")
	makeVictim(t, victim, files)
	mkdir(t, links)
	for i := range files {
		if err := os.Symlink(filepath.Join(victim, fmt.Sprintf("f%02d", i)), filepath.Join(links, fmt.Sprintf("f%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	d := runPaths(t, src, dst)
	d.waitSame(src, dst)
	before := victimState(t, victim)
	defer func() { assertVictimUnchanged(t, before, victim) }()
	flipPace := pace(60 * time.Millisecond) // past the settle time: one job per flip
	when := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	stop := churn(t,
		func(i int) error {
			flipPace()
			for k := range files {
				p := filepath.Join(src, fmt.Sprintf("f%02d", k))
				if err := os.Chmod(p, []fs.FileMode{0o600, 0o640}[i%2]); err != nil {
					return err
				}
				mt := when.Add(time.Duration(i) * time.Second)
				if err := os.Chtimes(p, mt, mt); err != nil {
					return err
				}
			}
			return nil
		},
		func(int) error {
			for k := range files {
				name := fmt.Sprintf("f%02d", k)
				a, b := filepath.Join(dst, name), filepath.Join(links, name)
				// A copy renamed over the link while it stood in dst
				// leaves a regular file in links: make it a link again.
				if fi, err := os.Lstat(b); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
					if err := os.Remove(b); err != nil {
						return err
					}
					if err := os.Symlink(filepath.Join(victim, name), b); err != nil {
						return err
					}
				}
				if err := exchangeInDest(a, b); err != nil {
					return err
				}
				if err := exchangeInDest(a, b); err != nil {
					return err
				}
			}
			return nil
		},
	)
	time.Sleep(flipFor) // the length of the load, not a synchronisation
	n := stop()
	t.Logf("%d flips, %d swap rounds", n[0], n[1])
	// A last change, so that copyd looks at every file once more with
	// nothing in the way.
	for k := range files {
		chmod(t, filepath.Join(src, fmt.Sprintf("f%02d", k)), 0o604)
	}
	d.waitSame(src, dst)
	d.stopOK(syscall.SIGTERM)
	treetest.AssertTreesEqual(t, src, dst)
	assertNoTemps(t, dst)
}
