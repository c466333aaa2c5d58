//go:build linux

package main

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", to damage and inspect indexes

	"github.com/copyd/copyd/index"
	"github.com/copyd/copyd/internal/tempname"
	"github.com/copyd/copyd/internal/treetest"
)

// End-to-end tests of copyd's index, the SQLite database per pair in
// state_dir that remembers what copyd wrote: it is never trusted blindly
// (a damaged, foreign or misbound index is rebuilt with one log line), it
// stays consistent through kill -9, it keeps a second copyd off its
// destination, it keeps failing paths across restarts, and it belongs to
// a destination, not to a pair's name.
//
// The swap of two files of equal size and mtime is the probe: size and
// mtime cannot see it, so a run that repairs it has used a working index.
// Helpers carry the prefix ixt.

// ixtIndexPath returns where copyd keeps the index of destination dst
// (TestMain points XDG_STATE_HOME at a temp folder).
func ixtIndexPath(dst string) string {
	return index.Path(filepath.Join(os.Getenv("XDG_STATE_HOME"), "copyd"), dst)
}

// ixtParse parses JSON log output (copyd sync's stderr) into lines.
func ixtParse(out string) []logLine {
	var b logBuffer
	b.Write([]byte(out))
	if !strings.HasSuffix(out, "\n") {
		b.Write([]byte("\n"))
	}
	return b.lines()
}

// ixtIndexLines returns the log lines about the index itself: "no index
// yet", "index not usable (...)", "index is corrupt", "index writes
// lost", "index not opened".
func ixtIndexLines(lines []logLine) []logLine {
	var out []logLine
	for _, l := range lines {
		if strings.Contains(strings.ToLower(l.get("msg")), "index") {
			out = append(out, l)
		}
	}
	return out
}

// ixtRaw returns the raw text of lines, one a line, for messages.
func ixtRaw(lines []logLine) string {
	if len(lines) == 0 {
		return "(none)"
	}
	var s []string
	for _, l := range lines {
		s = append(s, l.raw)
	}
	return strings.Join(s, "\n")
}

// ixtExpect is the one index line a start must log (msg "" : none).
type ixtExpect struct {
	level string
	msg   string   // prefix of the msg
	why   []string // the msg contains one of these (the reason); nil: any
}

var (
	ixtNoIndexYet = ixtExpect{level: "INFO", msg: "no index yet"}
	ixtSilent     = ixtExpect{}
)

// ixtRebuilt expects Open's line saying that the index is not usable,
// why, and that it is rebuilt.
func ixtRebuilt(why ...string) ixtExpect {
	return ixtExpect{level: "WARN", msg: "index not usable (", why: why}
}

// check returns nil when lines hold exactly the index line e wants.
func (e ixtExpect) check(lines []logLine) error {
	got := ixtIndexLines(lines)
	if e.msg == "" {
		if len(got) != 0 {
			return fmt.Errorf("want no log line about the index (it exists and is sound), got:\n%s", ixtRaw(got))
		}
		return nil
	}
	want := fmt.Sprintf("exactly one %s line %q…", e.level, e.msg)
	if e.why != nil {
		want += fmt.Sprintf(" giving one of the reasons %q", e.why)
	}
	if len(got) != 1 {
		return fmt.Errorf("want %s, got %d index lines:\n%s", want, len(got), ixtRaw(got))
	}
	msg := got[0].get("msg")
	if got[0].get("level") != e.level || !strings.HasPrefix(msg, e.msg) ||
		e.why != nil && !slices.ContainsFunc(e.why, func(w string) bool { return strings.Contains(msg, w) }) {
		return fmt.Errorf("want %s, got:\n%s", want, got[0].raw)
	}
	if strings.HasPrefix(e.msg, "index not usable") && !strings.Contains(msg, "rebuilding") {
		return fmt.Errorf("the line does not say that the index is rebuilt:\n%s", got[0].raw)
	}
	return nil
}

// ixtNoPanic fails the test if copyd's output shows a panic or a race.
func ixtNoPanic(t *testing.T, what, out string) {
	t.Helper()
	for _, bad := range []string{"panic:", "fatal error:", "DATA RACE", "goroutine "} {
		if strings.Contains(out, bad) {
			t.Errorf("%s: output contains %q:\n%s", what, bad, out)
			return
		}
	}
}

// ixtSwap swaps the files a and b under dir by three renames (as mv does).
func ixtSwap(t *testing.T, dir, a, b string) {
	t.Helper()
	pa, pb, tmp := filepath.Join(dir, a), filepath.Join(dir, b), filepath.Join(dir, ".ixt-swap")
	rename(t, pa, tmp)
	rename(t, pb, pa)
	rename(t, tmp, pb)
}

// ixtSame reports whether the file rel holds the same bytes in src and dst.
func ixtSame(src, dst, rel string) bool {
	a, err1 := os.ReadFile(filepath.Join(src, rel))
	b, err2 := os.ReadFile(filepath.Join(dst, rel))
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

// ixtSnapshot copies the index files of db (the database and its WAL, as
// a kill left them) to a temp folder and returns the copy's path, so that
// the test can look inside without recovering or checkpointing the
// original before copyd does.
func ixtSnapshot(t *testing.T, db string) string {
	t.Helper()
	dir := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(db + suffix)
		if errors.Is(err, fs.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatalf("read the index: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "copy.db"+suffix), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "copy.db")
}

// ixtQuery runs a query on a snapshot of the index db and returns the
// first column of every row.
func ixtQuery(t *testing.T, db, query string, args ...any) []string {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+ixtSnapshot(t, db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(query, args...)
	if err != nil {
		t.Fatalf("%s on a copy of %s: %v", query, db, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("%s on a copy of %s: %v", query, db, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s on a copy of %s: %v", query, db, err)
	}
	return out
}

// ixtIntegrity returns what PRAGMA integrity_check says of a snapshot of
// the index db: "ok", or the problems (or the error) on one line.
func ixtIntegrity(t *testing.T, db string) string {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+ixtSnapshot(t, db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`PRAGMA integrity_check`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err.Error()
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		out = append(out, err.Error())
	}
	return strings.Join(out, "; ")
}

// ixtGarbage returns n bytes of seeded noise.
func ixtGarbage(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// ixtDamage is one way an index goes bad between two runs.
type ixtDamage struct {
	name     string
	do       func(t *testing.T, db, dst string)
	want     ixtExpect // the index line of the next start
	corrupts bool      // the database fails PRAGMA integrity_check afterwards
}

// The byte-level damages are corruption, whatever words SQLite finds.
var ixtCorrupt = []string{"malformed", "corrupt", "not a database"}

var ixtDamages = []ixtDamage{
	{
		name: "index deleted",
		do: func(t *testing.T, db, _ string) {
			for _, p := range []string{db, db + "-wal", db + "-shm"} {
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Fatal(err)
				}
			}
		},
		want: ixtNoIndexYet,
	},
	{
		name: "truncated to half",
		do: func(t *testing.T, db, _ string) {
			fi, err := os.Stat(db)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(db, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		},
		want:     ixtRebuilt(ixtCorrupt...),
		corrupts: true,
	},
	{
		name: "middle overwritten with garbage",
		do: func(t *testing.T, db, _ string) {
			fi, err := os.Stat(db)
			if err != nil {
				t.Fatal(err)
			}
			// One whole page (SQLite's default 4 KiB) in the middle.
			f, err := os.OpenFile(db, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(ixtGarbage(1, 4096), (fi.Size()/2)&^4095); err != nil {
				t.Fatal(err)
			}
		},
		want:     ixtRebuilt(ixtCorrupt...),
		corrupts: true,
	},
	{
		name: "a page of records overwritten with garbage",
		do: func(t *testing.T, db, _ string) {
			pages := ixtQuery(t, db, `SELECT pageno FROM dbstat WHERE name = 'entries' AND pagetype = 'leaf' ORDER BY pageno`)
			size := ixtQuery(t, db, `PRAGMA page_size`)
			if len(pages) == 0 || len(size) != 1 {
				t.Fatalf("the index has no leaf page of entries (%q, page size %q)", pages, size)
			}
			var pageno, pageSize int64
			fmt.Sscan(pages[len(pages)/2], &pageno)
			fmt.Sscan(size[0], &pageSize)
			f, err := os.OpenFile(db, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(ixtGarbage(3, int(pageSize)), (pageno-1)*pageSize); err != nil {
				t.Fatal(err)
			}
		},
		want:     ixtRebuilt(ixtCorrupt...),
		corrupts: true,
	},
	{
		name: "replaced by garbage",
		do: func(t *testing.T, db, _ string) {
			if err := os.WriteFile(db, ixtGarbage(2, 64<<10), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		want: ixtRebuilt(ixtCorrupt...),
	},
	{
		name: "schema 99",
		do: func(t *testing.T, db, _ string) {
			conn, err := sql.Open("sqlite", "file:"+db)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Exec(`PRAGMA user_version = 99`); err != nil {
				t.Fatal(err)
			}
		},
		want: ixtRebuilt("schema 99"),
	},
	{
		name: "destination replaced by a copy of itself",
		do: func(t *testing.T, _, dst string) {
			// New inode, same path: another disk mounted there, or the
			// backup restored from elsewhere.
			cp := dst + ".copy"
			idrCmd(t, "cp", "-a", dst, cp)
			remove(t, dst)
			rename(t, cp, dst)
		},
		want: ixtRebuilt("dest_ino"),
	},
}

// ixtTree is the source of TestIndexNeverTrustedBlindly: four files of one
// size (two swaps' worth), a file to edit, and enough others that the
// index spans many pages.
func ixtTree() map[string]string {
	tree := map[string]string{
		"a.bin":    idrFill("a", 4096),
		"b.bin":    idrFill("b", 4096),
		"c.bin":    idrFill("c", 4096),
		"d.bin":    idrFill("d", 4096),
		"edit.txt": "before",
	}
	for i := range 240 {
		tree[fmt.Sprintf("f%d/%03d.txt", i%8, i)] = idrFill(fmt.Sprintf("file %03d ", i), 100+i)
	}
	return tree
}

// ixtMode runs copyd once on a pair: `copyd sync`, or `copyd run` until
// its first pass is done and a condition holds, then SIGTERM.
type ixtMode struct {
	name string
	// once runs copyd on src and dst, checks that it exits 0 and, for
	// run, waits until check passes (sync: check must pass when it is
	// done); it returns the log and check's error.
	once func(t *testing.T, src, dst string, check func() error) ([]logLine, error)
}

var ixtModes = []ixtMode{
	{"sync", func(t *testing.T, src, dst string, check func() error) ([]logLine, error) {
		t.Helper()
		args := []string{"sync", "--log-format", "json", "--progress", "never", "--fsync=false", src, dst}
		r := copyd(t, args...)
		ixtNoPanic(t, "copyd sync", r.stderr)
		if r.code != 0 {
			t.Fatalf("copyd %q: %s", args, r)
		}
		return ixtParse(r.stderr), check()
	}},
	{"run", func(t *testing.T, src, dst string, check func() error) ([]logLine, error) {
		t.Helper()
		d := runPaths(t, src, dst) // waits for "watching": the first pass is done
		err := idrWait(d, dst, check)
		d.stopOK(syscall.SIGTERM)
		ixtNoPanic(t, "copyd run", d.log.String())
		return d.log.lines(), err
	}},
}

// TestIndexNeverTrustedBlindly damages the index between two runs in every
// way a disk, a person or another copyd can. The next run must say so in
// exactly one line, exit 0 and bring every change that size and mtime can
// see; and the run after it must use the rebuilt index again, which the
// swap of two look-alike files (same size, same mtime) proves. A swap
// made while the index was unusable is not expected to be caught: copyd
// then compares by size and mtime, as on a first run; whether it was is
// logged.
func TestIndexNeverTrustedBlindly(t *testing.T) {
	t.Parallel()
	for _, mode := range ixtModes {
		for _, dmg := range ixtDamages {
			for _, swap := range []bool{false, true} {
				if swap && dmg.name != "index deleted" && dmg.name != "truncated to half" && dmg.name != "destination replaced by a copy of itself" {
					continue
				}
				name := mode.name + "/" + dmg.name
				if swap {
					name += " and files swapped"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					ixtNeverTrustedBlindly(t, mode, dmg, swap)
				})
			}
		}
	}
}

func ixtNeverTrustedBlindly(t *testing.T, mode ixtMode, dmg ixtDamage, swap bool) {
	_, src, dst := dirs(t, ixtTree())
	idrStamp(t, src)
	db := ixtIndexPath(dst)

	lines, err := mode.once(t, src, dst, func() error { return treetest.Compare(src, dst) })
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if err := ixtNoIndexYet.check(lines); err != nil {
		t.Errorf("first run: %v", err)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("no index where copyd keeps it: %v", err)
	}

	dmg.do(t, db, dst)
	integrity := ""
	if dmg.corrupts {
		if integrity = ixtIntegrity(t, db); integrity == "ok" {
			t.Fatalf("%s: the index still passes PRAGMA integrity_check; the damage missed", dmg.name)
		}
	}
	// Changes size and mtime see, and perhaps one they do not.
	write(t, filepath.Join(src, "edit.txt"), "after, and longer")
	write(t, filepath.Join(src, "added/new.txt"), "new")
	var ignore []string
	if swap {
		ixtSwap(t, src, "a.bin", "b.bin")
		ignore = []string{"a.bin", "b.bin"}
	}
	lines, err = mode.once(t, src, dst, func() error { return treetest.Compare(src, dst, ignore...) })
	if err != nil {
		t.Errorf("run after the damage: the destination does not match: %v", err)
	}
	if err := dmg.want.check(lines); err != nil {
		if integrity != "" {
			err = fmt.Errorf("%w\n(PRAGMA integrity_check of the damaged index: %s)", err, integrity)
		}
		t.Errorf("run after the damage: %v", err)
	}
	if swap {
		caught := ixtSame(src, dst, "a.bin") && ixtSame(src, dst, "b.bin")
		t.Logf("%s: the swap made meanwhile was caught: %v (not expected: the index was unusable)", dmg.name, caught)
	}

	// The index works again: the next run catches a swap.
	ixtSwap(t, src, "c.bin", "d.bin")
	lines, err = mode.once(t, src, dst, func() error {
		if !ixtSame(src, dst, "c.bin") || !ixtSame(src, dst, "d.bin") {
			return errors.New("c.bin and d.bin were swapped in the source and hold the old bytes in the destination")
		}
		return treetest.Compare(src, dst, ignore...)
	})
	if err != nil {
		t.Errorf("the run after the rebuild did not use the rebuilt index: %v", err)
	}
	if err := ixtSilent.check(lines); err != nil {
		t.Errorf("the run after the rebuild: %v", err)
	}
	assertNoTemps(t, dst)
}

// ixtCrashFiles is the size of TestIndexKill9's tree.
const ixtCrashFiles = 2000

// ixtCrashTree writes ixtCrashFiles small files of random content into
// src, recording each version in v, plus swap/a.bin and swap/b.bin, which
// have one size and mtime; it returns the paths of the random files.
func ixtCrashTree(t *testing.T, src string, rng *rand.Rand, v *versions) []string {
	t.Helper()
	var rels []string
	for i := range ixtCrashFiles {
		rel := fmt.Sprintf("d%02d/f%04d.bin", i%20, i)
		if i < 20 {
			mkdir(t, filepath.Join(src, filepath.Dir(rel)))
		}
		ixtWriteVersion(t, src, rel, rng, v)
		rels = append(rels, rel)
	}
	swap := filepath.Join(src, "swap")
	mkdir(t, swap)
	for _, name := range []string{"a", "b"} {
		p := filepath.Join(swap, name+".bin")
		data := idrFill(name, 3000)
		v.add("swap/"+name+".bin", []byte(data))
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, idrMtime, idrMtime); err != nil {
			t.Fatal(err)
		}
	}
	return rels
}

// ixtWriteVersion writes a new version of rel (200 B to 6 KiB of noise)
// and records it in v.
func ixtWriteVersion(t *testing.T, src, rel string, rng *rand.Rand, v *versions) {
	t.Helper()
	data := make([]byte, 200+rng.IntN(6<<10))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	v.add(rel, data)
	if err := os.WriteFile(filepath.Join(src, rel), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ixtCountDone returns the number of files under their final names in dst.
func ixtCountDone(dst string) int {
	n := 0
	filepath.WalkDir(dst, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !tempname.Is(d.Name()) {
			n++
		}
		return nil
	})
	return n
}

// ixtStartSync starts `copyd sync` on src and dst with JSON logs; wait
// returns its exit code (-1 if killed) and its output.
func ixtStartSync(t *testing.T, src, dst string) (cmd *exec.Cmd, wait func() (int, string)) {
	t.Helper()
	cmd = exec.Command(copydBin, "sync", "--log-format", "json", "--progress", "never", src, dst)
	out := new(logBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	code := 0
	go func() {
		err := cmd.Wait()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			code = exit.ExitCode()
		case err != nil:
			code = -2
		}
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd, func() (int, string) { <-done; return code, out.String() }
}

// TestIndexKill9 kills `copyd sync` and `copyd run` with SIGKILL at
// seeded random moments of the copy of a few thousand small files, while
// the index is being written: the next start must find the index sound
// (WAL), every file under its final name must be a complete version of
// its source, and a final run must converge; then a swap of two look-
// alike files must still be caught, so the index is trusted and right.
// The kill moments are points in the copy's progress (so many files
// arrived), drawn from the seed in the subtest's name.
func TestIndexKill9(t *testing.T) {
	t.Parallel()
	const kills = 4
	for _, mode := range []string{"sync", "run"} {
		for _, seed := range []uint64{1, 2} {
			t.Run(fmt.Sprintf("%s/seed=%d", mode, seed), func(t *testing.T) {
				t.Parallel()
				ixtKill9(t, mode == "run", seed, kills)
			})
		}
	}
}

func ixtKill9(t *testing.T, daemon bool, seed uint64, kills int) {
	rng := rand.New(rand.NewPCG(seed, seed))
	_, src, dst := dirs(t, nil)
	v := &versions{seen: map[string]map[[32]byte]bool{}}
	rels := ixtCrashTree(t, src, rng, v)
	total := len(rels) + 2
	db := ixtIndexPath(dst)
	var checked, temps int
	for k := 1; k <= kills; k++ {
		if k > 1 { // new versions of some files: copies over old ones
			for range 5 + rng.IntN(20) {
				ixtWriteVersion(t, src, rels[rng.IntN(len(rels))], rng, v)
			}
		}
		have := ixtCountDone(dst)
		target := have + 1 + rng.IntN(max(1, (total-have)/2))
		if k == kills {
			target = total // as the last files arrive: the last batches and the close
		}
		target = min(target, total)
		var (
			out   func() string // its output so far
			crash func()        // SIGKILL, and wait for the end
			code  = -1          // sync: its exit code, if it ended before the kill
		)
		if daemon {
			d := startRun(t, nil, "--log-format", "json", "--settle", "50ms", src, dst)
			out, crash = d.log.String, d.crash
		} else {
			cmd, wait := ixtStartSync(t, src, dst)
			var text string
			out = func() string { return text }
			crash = func() {
				cmd.Process.Signal(syscall.SIGKILL) // an error means it has just exited
				code, text = wait()
			}
		}
		deadline := time.Now().Add(converged)
		for ixtCountDone(dst) < target {
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: %d of %d files arrived after %v, waiting for %d\n%s", k, ixtCountDone(dst), total, converged, target, out())
			}
			time.Sleep(2 * time.Millisecond) // polling the destination's progress
		}
		crash()
		text := out()
		ixtNoPanic(t, fmt.Sprintf("kill %d", k), text)
		if code > 0 {
			t.Errorf("kill %d: copyd sync exited %d before the kill:\n%s", k, code, text)
		}
		want := ixtSilent // the start after a kill: the index is sound
		if k == 1 {
			want = ixtNoIndexYet
		}
		if err := want.check(ixtParse(text)); err != nil {
			t.Errorf("start %d (after %d kills): %v", k, k-1, err)
		}
		found := checkCrashed(t, dst, k, v.had, nil)
		checked += found.files
		temps += len(found.temps)
		if got := ixtIntegrity(t, db); got != "ok" {
			t.Errorf("after kill %d the index (with its WAL) fails PRAGMA integrity_check: %s", k, got)
		}
	}
	t.Logf("%d kills: %d destination files checked complete; %d temp files left", kills, checked, temps)

	// The start after the last kill converges, and trusts the index.
	final := func(what string, check func() error) {
		t.Helper()
		var lines []logLine
		if daemon {
			d := runPaths(t, src, dst)
			if err := idrWait(d, dst, check); err != nil {
				t.Errorf("%s: %v", what, err)
			}
			d.stopOK(syscall.SIGTERM)
			lines = d.log.lines()
		} else {
			var err error
			if lines, err = ixtModes[0].once(t, src, dst, check); err != nil {
				t.Errorf("%s: %v", what, err)
			}
		}
		if err := ixtSilent.check(lines); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		treetest.AssertTreesEqual(t, src, dst)
		assertNoTemps(t, dst)
	}
	final("run after the kills", func() error { return treetest.Compare(src, dst) })
	before := idrHashFiles(t, src)
	ixtSwap(t, src, "swap/a.bin", "swap/b.bin")
	final("run after a swap of look-alike files", func() error { return idrDiff(src, dst, before) })
}

// ixtPidRE matches a sentence naming process pid (and no longer number).
func ixtPidRE(pid int) *regexp.Regexp { return regexp.MustCompile(fmt.Sprintf(`\bpid %d\b`, pid)) }

// ixtRefusal checks that text refuses the destination in a sentence that
// names the process holding it and says what to do.
func ixtRefusal(text string, pid int) error {
	switch {
	case !ixtPidRE(pid).MatchString(text):
		return fmt.Errorf("does not name the copyd using the destination (pid %d)", pid)
	case !strings.Contains(text, "another copyd"):
		return errors.New(`does not say "another copyd" uses the destination`)
	case !regexp.MustCompile(`(?i)\bstop\b`).MatchString(text):
		return errors.New("does not say what to do (stop the other copyd)")
	}
	return nil
}

// TestIndexOneCopydPerDestination runs a second copyd run (of the same
// pair, and of another source) and copyd sync onto the destination of a
// running daemon: all are refused with a sentence that names the daemon's pid and says what
// to do, sync exits non-zero, and nothing of theirs reaches the
// destination. Once the first daemon stops, the second one starts its
// pair by itself.
func TestIndexOneCopydPerDestination(t *testing.T) {
	t.Parallel()
	base, src, dst := dirs(t, map[string]string{"first.txt": "first", "sub/f.txt": "f"})
	src2 := filepath.Join(base, "src2")
	writeTree(t, src2, map[string]string{"second.txt": "second"})
	d1 := runPaths(t, src, dst)
	d1.converge(src, dst)
	pid := d1.cmd.Process.Pid

	// The same pair again (a second service, a manual start), stopped
	// once refused.
	same := startRun(t, nil, "--log-format", "json", "--settle", "50ms", src, dst)
	l := same.waitLog(0, match{level: "ERROR", text: []string{"another copyd"}})
	if err := ixtRefusal(l.raw, pid); err != nil {
		t.Errorf("second copyd run of the same pair: its refusal %v:\n%s", err, l.raw)
	}
	same.stopOK(syscall.SIGTERM)
	// Another source onto the same destination: kept waiting.
	d2 := startRun(t, nil, "--log-format", "json", "--settle", "50ms", src2, dst)
	l = d2.waitLog(0, match{level: "ERROR", text: []string{"another copyd"}})
	if err := ixtRefusal(l.raw, pid); err != nil {
		t.Errorf("second copyd run onto %s from another source: its refusal %v:\n%s", dst, err, l.raw)
	}

	// copyd sync of either source, and of the same destination through a
	// symlink and with another state folder (the service's and a user's):
	// the folder itself is locked.
	link := filepath.Join(base, "dst-link")
	if err := os.Symlink(dst, link); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(base, "other-state.yaml")
	write(t, cfg, fmt.Sprintf("state_dir: %s\npairs:\n  - source: %s\n    destination: %s\n", filepath.Join(base, "other-state"), src2, dst))
	syncFlags := []string{"sync", "--log-format", "json", "--progress", "never"}
	for _, rest := range [][]string{{src, dst}, {src2, dst}, {src2, link}, {"--config", cfg}} {
		args := append(slices.Clone(syncFlags), rest...)
		r := copyd(t, args...)
		if r.code == 0 {
			t.Errorf("copyd %q while copyd run (pid %d) uses the destination: exit 0, want non-zero\n%s", args, pid, r)
		}
		if err := ixtRefusal(r.stderr, pid); err != nil {
			t.Errorf("copyd %q: its refusal %v:\n%s", args, err, r)
		}
		if strings.Contains(r.stdout, "copied ") {
			t.Errorf("copyd %q was refused but printed a summary as if it had run:\n%s", args, r)
		}
	}

	// The first daemon goes on; the refused ones wrote nothing.
	write(t, filepath.Join(src, "later.txt"), "later")
	d1.converge(src, dst)
	assertAbsent(t, filepath.Join(dst, "second.txt"))
	if d2.exited() {
		t.Fatalf("the refused copyd run exited (code %d); want it to wait for the destination", d2.code)
	}

	since := d2.mark()
	d1.stopOK(syscall.SIGTERM)
	treetest.AssertTreesEqual(t, src, dst)
	// The second daemon takes over (its index describes another source:
	// it is rebuilt).
	d2.waitWatchingSince(since, "src2")
	d2.waitFor(converged, func() error {
		got, err := os.ReadFile(filepath.Join(dst, "second.txt"))
		if err != nil || string(got) != "second" {
			return fmt.Errorf("second.txt in the destination: %q, %v", got, err)
		}
		return nil
	})
	d2.stopOK(syscall.SIGTERM)
	assertNoTemps(t, dst)
}

// ixtFreeAddr returns a local TCP address that was free a moment ago.
func ixtFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ixtFailing returns the failing paths the daemon at addr reports for its
// only pair.
func ixtFailing(t *testing.T, addr string) ([]string, error) {
	t.Helper()
	rep, err := fetchStatus(t.Context(), addr)
	if err != nil {
		return nil, err
	}
	if len(rep.Pairs) != 1 {
		return nil, fmt.Errorf("status lists %d pairs, want 1", len(rep.Pairs))
	}
	var out []string
	for _, f := range rep.Pairs[0].Failing {
		out = append(out, f.Path)
	}
	return out, nil
}

// TestIndexFailingPathsSurviveRestart runs copyd as an unprivileged user
// (root reads anything) on a source with an unreadable file: after a
// restart the daemon says it retries the paths that failed before it, and
// copyd status lists the file with its error and the time it first
// failed, before the restart; once the file is readable it arrives and
// the list is empty, at the next start too.
func TestIndexFailingPathsSurviveRestart(t *testing.T) {
	t.Parallel()
	cred := nobody(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is not on PATH; it runs copyd as the unprivileged user")
	}
	base := worldDir(t)
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	writeTree(t, src, map[string]string{"ok.txt": "fine", "secret.txt": "hidden", "sub/other.txt": "other"})
	mkWorldWritable(t, base)
	chmod(t, filepath.Join(src, "secret.txt"), 0o000)
	addr := ixtFreeAddr(t)
	via := []string{"setpriv", "--reuid=" + itoa(cred.Uid), "--regid=" + itoa(cred.Gid), "--clear-groups"}
	start := func() *daemon {
		t.Helper()
		d := startRunVia(t, via, nil, "--log-format", "json", "--settle", "50ms", "--status", addr, src, dst)
		d.waitWatching("src")
		return d
	}

	d := start()
	d.waitLog(0, match{level: "WARN", attrs: map[string]string{"path": "secret.txt"}})
	d.waitFor(converged, func() error { return treetest.Compare(src, dst, "secret.txt") })
	d.stopOK(syscall.SIGTERM)
	restarted := time.Now()

	d = start()
	d.waitLog(0, match{level: "INFO", msg: "retrying the paths that failed before the restart", attrs: map[string]string{"paths": "1"}})
	rep, err := fetchStatus(t.Context(), addr)
	switch {
	case err != nil:
		t.Fatalf("status after the restart: %v", err)
	case len(rep.Pairs) != 1 || len(rep.Pairs[0].Failing) != 1 || rep.Pairs[0].Failing[0].Path != "secret.txt":
		t.Errorf("status after the restart lists %+v as failing, want secret.txt alone", rep.Pairs)
	case !rep.Pairs[0].Failing[0].Since.Before(restarted):
		t.Errorf("status after the restart: secret.txt failing since %v, want a time before the restart (%v): it failed in the first run",
			rep.Pairs[0].Failing[0].Since, restarted)
	}
	r := copyd(t, "status", "--status", addr)
	if r.code != exitFailed || !regexp.MustCompile(`failing since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d .*"secret\.txt".*permission denied`).MatchString(r.stdout) {
		t.Errorf("copyd status after the restart: %s\nwant exit 1 and secret.txt listed as failing since a time, with permission denied", r)
	}

	chmod(t, filepath.Join(src, "secret.txt"), 0o644)
	d.waitLog(0, match{msg: "recovered", attrs: map[string]string{"path": "secret.txt"}})
	d.converge(src, dst)
	d.waitFor(converged, func() error {
		failing, err := ixtFailing(t, addr)
		if err == nil && len(failing) > 0 {
			err = fmt.Errorf("still failing: %q", failing)
		}
		return err
	})
	if r := copyd(t, "status", "--status", addr); r.code != 0 || strings.Contains(r.stdout, "failing since") {
		t.Errorf("copyd status once secret.txt arrived: %s\nwant exit 0 and no failing path", r)
	}
	d.finish(src, dst)

	// Forgotten for good: the next start has nothing to retry.
	d = start()
	if slices.ContainsFunc(d.log.lines(), match{msg: "retrying the paths that failed before the restart"}.ok) {
		t.Errorf("the start after the file arrived retries failures again:\n%s", d.log)
	}
	if failing, err := ixtFailing(t, addr); err != nil || len(failing) != 0 {
		t.Errorf("status at the next start lists %q as failing (%v), want none", failing, err)
	}
	d.finish(src, dst)
}

// TestIndexPerDestination gives two pairs destinations of one name in
// two folders: each gets its own index, bound to its own destination.
func TestIndexPerDestination(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src1, src2 := filepath.Join(base, "videos"), filepath.Join(base, "music")
	writeTree(t, src1, map[string]string{"v.mp4": "video"})
	writeTree(t, src2, map[string]string{"m.flac": "music"})
	dst1, dst2 := filepath.Join(base, "disk1", "backup"), filepath.Join(base, "disk2", "backup")
	cfg := filepath.Join(base, "config.yaml")
	writeConfig(t, cfg, pairYAML("videos", src1, dst1)+pairYAML("music", src2, dst2))
	r := copyd(t, "sync", "-c", cfg, "--progress", "never")
	if r.code != 0 {
		t.Fatalf("copyd sync -c: %s", r)
	}
	assertTreesEqual(t, src1, dst1)
	assertTreesEqual(t, src2, dst2)
	db1, db2 := ixtIndexPath(dst1), ixtIndexPath(dst2)
	if db1 == db2 {
		t.Fatalf("index.Path gives %s for both %s and %s", db1, dst1, dst2)
	}
	got := map[string]string{}
	for _, l := range ixtIndexLines(ixtParse(r.stderr)) {
		if !strings.HasPrefix(l.get("msg"), "no index yet") {
			t.Errorf("unexpected index line: %s", l.raw)
		}
		got[l.get("pair")] = l.get("index")
	}
	if want := map[string]string{"videos": db1, "music": db2}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf(`"no index yet" lines name the indexes %v, want %v\n%s`, got, want, r.stderr)
	}
	for db, dst := range map[string]string{db1: dst1, db2: dst2} {
		if got := ixtQuery(t, db, `SELECT value FROM meta WHERE key = 'destination'`); !slices.Equal(got, []string{dst}) {
			t.Errorf("index %s describes destination %q, want %q", db, got, dst)
		}
	}
}

// TestIndexPairRenamedKeepsItsIndex renames a pair in the config between
// two starts: the index belongs to the destination, so the second start
// has one (no "no index yet"), and it catches a swap of look-alike files
// made while copyd was stopped.
func TestIndexPairRenamedKeepsItsIndex(t *testing.T) {
	t.Parallel()
	base, src, dst := dirs(t, map[string]string{"a.bin": idrFill("a", 2048), "b.bin": idrFill("b", 2048), "notes.txt": "notes"})
	idrStamp(t, src)
	cfg := filepath.Join(base, "config.yaml")
	writeConfig(t, cfg, pairYAML("videos", src, dst))
	d := startRun(t, nil, "-c", cfg)
	d.waitWatching("videos")
	d.converge(src, dst)
	d.stopOK(syscall.SIGTERM)
	if err := ixtNoIndexYet.check(d.log.lines()); err != nil {
		t.Errorf("first start: %v", err)
	}

	before := idrHashFiles(t, src)
	ixtSwap(t, src, "a.bin", "b.bin")
	writeConfig(t, cfg, pairYAML("lessons", src, dst))
	d = startRun(t, nil, "-c", cfg)
	d.waitWatching("lessons")
	if err := idrWaitTree(d, src, dst, before); err != nil {
		t.Errorf("after the rename of the pair and a swap: %v", err)
	}
	d.finish(src, dst)
	if err := ixtSilent.check(d.log.lines()); err != nil {
		t.Errorf("start of the renamed pair: %v", err)
	}
}

// TestIndexLostRecordIsNoProof loses one file's record from a kept index
// (as a kill -9 inside the writer's batch window does), then rewrites the
// source file with its size and mtime kept: the next sync must not take
// size and mtime as proof and must bring the new bytes (found by an
// adversarial run of kill -9 during copies).
func TestIndexLostRecordIsNoProof(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"f.txt": "version-1", "keep.txt": "keep"})
	mtime := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	p := filepath.Join(src, "f.txt")
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	sync := []string{"sync", "--log-format", "json", "--progress", "never", src, dst}
	if r := copyd(t, sync...); r.code != 0 {
		t.Fatalf("first sync: %s", r)
	}
	db, err := sql.Open("sqlite", "file:"+ixtIndexPath(dst))
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`DELETE FROM entries WHERE name = CAST('f.txt' AS BLOB)`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("deleted %d records of f.txt, want 1", n)
	}
	db.Close()
	write(t, p, "version-2")
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if r := copyd(t, sync...); r.code != 0 {
		t.Fatalf("sync after the lost record: %s", r)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "f.txt")); string(got) != "version-2" {
		t.Errorf("dst/f.txt = %q after a sync; want %q: size and mtime were taken as proof", got, "version-2")
	}
}

// TestIndexDestinationFolderChanged: a start takes the listing of a
// destination folder from its records where the folder's ctime is the one
// recorded (no getdents). Whatever someone else does in such a folder
// moves its ctime, so each change below must be seen and put right by the
// next `copyd sync`, as in a folder that is read.
func TestIndexDestinationFolderChanged(t *testing.T) {
	t.Parallel()
	tree := map[string]string{"sub/a.txt": "a", "sub/b.txt": "b", "sub/deep/c.txt": "c", "top.txt": "top"}
	tests := []struct {
		name   string
		flags  []string
		tamper func(t *testing.T, dst string)
		// excluded: after the change, two syncs with this path excluded
		// (the second could record the folder as complete) before the
		// last one without: an excluded entry's record proves nothing.
		excluded string
	}{
		{"file removed", nil, func(t *testing.T, dst string) {
			if err := os.Remove(filepath.Join(dst, "sub", "a.txt")); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"file added", []string{"--delete"}, func(t *testing.T, dst string) {
			write(t, filepath.Join(dst, "sub", "stray.txt"), "stray")
		}, ""},
		{"file renamed", []string{"--delete"}, func(t *testing.T, dst string) {
			rename(t, filepath.Join(dst, "sub", "a.txt"), filepath.Join(dst, "sub", "z.txt"))
		}, ""},
		{"files swapped", nil, func(t *testing.T, dst string) {
			a, b, tmp := filepath.Join(dst, "sub", "a.txt"), filepath.Join(dst, "sub", "b.txt"), filepath.Join(dst, "sub", "t")
			rename(t, a, tmp)
			rename(t, b, a)
			rename(t, tmp, b)
		}, ""},
		{"folder removed", nil, func(t *testing.T, dst string) {
			if err := os.RemoveAll(filepath.Join(dst, "sub", "deep")); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"symlink put in", []string{"--delete"}, func(t *testing.T, dst string) {
			if err := os.Symlink("/etc", filepath.Join(dst, "sub", "escape")); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"file rewritten in place with its mtime put back, another added", []string{"--delete"}, func(t *testing.T, dst string) {
			// The folder's ctime moves (the new file), so it is listed and
			// stat'ed: the rewrite's ctime gives it away, not its inode.
			p := filepath.Join(dst, "sub", "a.txt")
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			write(t, p, "X")
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dst, "sub", "new.txt"), "new")
		}, ""},
		{"file removed, then excluded for two syncs", nil, func(t *testing.T, dst string) {
			if err := os.Remove(filepath.Join(dst, "sub", "a.txt")); err != nil {
				t.Fatal(err)
			}
		}, "sub/a.txt"},
		{"file replaced, then excluded for two syncs", nil, func(t *testing.T, dst string) {
			p := filepath.Join(dst, "sub", "a.txt")
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			write(t, p+".new", "X")
			if err := os.Chtimes(p+".new", fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			rename(t, p+".new", p)
		}, "sub/a.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, src, dst := dirs(t, tree)
			sync := append(append([]string{"sync", "--progress", "never", "--fsync=false"}, tt.flags...), src, dst)
			if r := copyd(t, sync...); r.code != 0 {
				t.Fatalf("first sync: %s", r)
			}
			// A folder's ctime is recorded once it is a second older than
			// the pass that found it complete: the second sync records it.
			time.Sleep(1100 * time.Millisecond)
			if r := copyd(t, sync...); r.code != 0 {
				t.Fatalf("second sync: %s", r)
			}
			tt.tamper(t, dst)
			if tt.excluded != "" {
				excl := append([]string{sync[0], "--exclude", tt.excluded}, sync[1:]...)
				for range 2 {
					time.Sleep(1100 * time.Millisecond)
					if r := copyd(t, excl...); r.code != 0 {
						t.Fatalf("sync with %s excluded: %s", tt.excluded, r)
					}
				}
			}
			if r := copyd(t, sync...); r.code != 0 {
				t.Fatalf("sync after the change: %s", r)
			}
			if err := treetest.Compare(src, dst); err != nil {
				t.Errorf("%s in a destination folder, then a sync: %v", tt.name, err)
			}
		})
	}
}

// TestIndexUnfinishedFoldersFirst kills copyd while a change waits in the
// settle queue: the next start scans that change's folder before its full
// pass (on a big tree the full pass takes minutes), and once the pair has
// been idle the folder is forgotten, so the start after that has nothing
// to scan first.
func TestIndexUnfinishedFoldersFirst(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"a/one.txt": "1", "b/two.txt": "2", "c/three.txt": "3"})
	start := func(settle string) *daemon {
		t.Helper()
		d := startRun(t, nil, "--log-format", "json", "--log-level", "debug", "--settle", settle, "--max-delay", settle, src, dst)
		d.waitWatching("src")
		return d
	}
	d := start("50ms")
	d.finish(src, dst)
	d = start("1h") // the change below stays pending until the kill
	write(t, filepath.Join(src, "b", "new.txt"), "written just before the crash")
	time.Sleep(time.Second) // the index commits its writes within 100 ms
	d.crash()

	d = start("50ms")
	d.waitLog(0, match{level: "INFO", msg: "scanning first the folders whose changes were not copied before copyd stopped",
		attrs: map[string]string{"folders": "1"}})
	lines := d.log.lines()
	copied := slices.IndexFunc(lines, match{msg: "copied", attrs: map[string]string{"path": "b/new.txt"}}.ok)
	pass := slices.IndexFunc(lines, match{msg: "initial copy started"}.ok)
	if copied < 0 || pass < 0 || copied > pass {
		t.Errorf("b/new.txt copied at log line %d, the full pass started at line %d: want the copy first", copied, pass)
	}
	d.converge(src, dst)
	time.Sleep(500 * time.Millisecond) // idle: the loop forgets the folder
	d.finish(src, dst)

	d = start("50ms")
	if slices.ContainsFunc(d.log.lines(), match{msg: "scanning first the folders whose changes were not copied before copyd stopped"}.ok) {
		t.Errorf("the start after an idle stop scans folders first again:\n%s", d.log)
	}
	d.finish(src, dst)
}
