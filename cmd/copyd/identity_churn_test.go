//go:build linux

package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/copyd/copyd/internal/treetest"
)

// The identity property: whatever is done to a source tree, the
// destination ends up holding the source's bytes under the source's names.
// These tests attack the quick check (same size and mtime = same file) on
// purpose: every file has one of three sizes and every entry, folders and
// symlinks included, has the one mtime propStamp, put back after each
// operation (as touch -r or a careful tool does), so the size and mtime of a
// path never change while its content does. Files are rewritten in place,
// renamed over one another, swapped, exchanged with renameat2, moved out of
// the source and back under another name; names come from a small pool per
// folder (f0…f5, d0…d5, l0…l5), so two folders tend to hold the same names
// and a folder exchange or a move puts other bytes under a known path.
// Trees are compared by sha256 of each file, symlink target text and the
// set of names; sizes, modes and mtimes are not compared.
//
// A name's first letter is its type (f file, d folder, l symlink), so a
// path never changes type: a destination that keeps what the source
// deleted (no --delete) can still be judged path by path.
//
// An attack seed gives the same operations in both runners, run after run
// (the tree is listed in lexical order before every choice and only the
// workload writes to the source); in TestIdentityPropertyRun the daemon's
// timing still varies. Every tenth seed is a control, which must pass
// even with a copier that trusts size and mtime, so that a failing attack
// seed blames copyd, not the harness: in TestIdentityPropertySync its
// operations never put new content under a path the destination may hold
// (propFresh); in TestIdentityPropertyRun it only adds to the tree
// (propGrow), since copyd run pairs a deletion with a new path of the same
// size and mtime as a rename (its move guess), so that even propFresh's
// deletions and renames attack it.

// propStamp is the mtime of every entry of an identity workload.
var propStamp = time.Unix(1_700_000_000, 0)

const (
	propPool     = 6                // names per type per folder before fresh ones
	propMaxDepth = 3                // folders are made and moved only above this depth
	propWait     = 20 * time.Second // for copyd run to converge
)

// TestIdentityPropertySync runs `copyd sync` on a tree, then three rounds of
// 20–40 random operations followed by another sync and a comparison by
// content. Even seeds sync with --delete (the destination must equal the
// source); odd seeds without it (the destination must hold every source
// path with the source's content and may hold more).
//
// 200 seeds by default (20 with -short); COPYD_IDENTITY_SEEDS=N runs seeds
// 1..N (the full run: 5000), COPYD_IDENTITY_SEED=S seed S alone.
func TestIdentityPropertySync(t *testing.T) {
	t.Parallel()
	n := uint64(200)
	if testing.Short() {
		n = 20
	}
	seeds := propSeeds(t, "COPYD_IDENTITY_SEEDS", n)
	// Each seed mostly waits for a child process, so twice the CPUs.
	propParallel(t, seeds, 2*runtime.GOMAXPROCS(0), propSyncOne)
}

// TestIdentityPropertyRun starts `copyd run --delete` on a tree and, in
// three rounds, applies 20–40 random operations while it watches and waits
// up to 20 s for the destination to equal the source by content.
//
// 20 seeds by default; COPYD_IDENTITY_RUN_SEEDS=N runs seeds 1..N,
// COPYD_IDENTITY_SEED=S seed S alone.
func TestIdentityPropertyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon for seconds per seed")
	}
	t.Parallel()
	seeds := propSeeds(t, "COPYD_IDENTITY_RUN_SEEDS", 20)
	// A daemon is idle most of the time, and a failing seed waits out the
	// whole deadline: more at once than CPUs keeps the test short.
	propParallel(t, seeds, 20, propRunOne)
}

// propSeeds returns the seeds to run: COPYD_IDENTITY_SEED alone, or
// 1..N with N from the environment variable count (default def).
func propSeeds(t *testing.T, count string, def uint64) []uint64 {
	t.Helper()
	if s := os.Getenv("COPYD_IDENTITY_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COPYD_IDENTITY_SEED=%q: want a seed (an unsigned integer)", s)
		}
		return []uint64{seed}
	}
	n := def
	if s := os.Getenv(count); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v == 0 {
			t.Fatalf("%s=%q: want a number of seeds", count, s)
		}
		n = v
	}
	var seeds []uint64
	for s := uint64(1); s <= n; s++ {
		seeds = append(seeds, s)
	}
	return seeds
}

// propParallel runs one subtest per seed, at most limit at once, and
// sums up the failures. The subtests are started from goroutines instead
// of calling t.Parallel, whose bound (-parallel, GOMAXPROCS by default)
// would leave the CPUs idle while each seed waits on copyd.
func propParallel(t *testing.T, seeds []uint64, limit int, one func(t *testing.T, seed uint64)) {
	t.Helper()
	sem := make(chan struct{}, limit)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []uint64
	)
	for _, seed := range seeds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if !t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { one(t, seed) }) {
				mu.Lock()
				failed = append(failed, seed)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		slices.Sort(failed)
		t.Errorf("%d of %d seeds failed: %v", len(failed), len(seeds), failed)
	}
}

// propControl is the set of operations a seed draws from.
type propControl int

const (
	propAttack propControl = iota // all of them
	propFresh                     // fresh names only; no rewrite, rename over, swap, exchange or relink
	propGrow                      // only creating files, folders and symlinks and moving a subtree in
)

// propVariant says how a seed runs: every tenth is a control of the kind
// given, and mirror (--delete, for the sync runner) alternates.
func propVariant(seed uint64, control propControl) (bool, propControl) {
	if seed%10 == 0 {
		return seed%20 == 0, control
	}
	return seed%2 == 0, propAttack
}

func propVariantName(mirror bool, control propControl) string {
	s := "without --delete"
	if mirror {
		s = "--delete"
	}
	switch control {
	case propFresh:
		s += ", control: fresh names only, no operation gives an existing path new content"
	case propGrow:
		s += ", control: only adds files, folders and symlinks"
	}
	return s
}

// propDirs makes a seed's folders and its seeded workload.
func propDirs(t *testing.T, seed uint64) (src, dst string, g *propGen) {
	t.Helper()
	base := t.TempDir()
	src, dst, outside := filepath.Join(base, "src"), filepath.Join(base, "dst"), filepath.Join(base, "outside")
	mkdir(t, src)
	mkdir(t, outside)
	g = newPropGen(seed, src, outside)
	if err := g.seedTree(); err != nil {
		t.Fatalf("seed %d: building the tree: %v\n%s", seed, err, strings.Join(g.ops, "\n"))
	}
	return src, dst, g
}

func propSyncOne(t *testing.T, seed uint64) {
	mirror, control := propVariant(seed, propFresh)
	src, dst, g := propDirs(t, seed)
	g.control = control
	rep := propReport{t: t, test: "TestIdentityPropertySync", seed: seed, variant: "sync " + propVariantName(mirror, control), g: g}
	args := []string{"sync", "--fsync=false", "--progress", "never"}
	if mirror {
		args = append(args, "--delete")
	}
	args = append(args, src, dst)
	for round := 0; round <= 3; round++ {
		if round > 0 {
			if err := g.batch(round, 20+g.rng.IntN(21), nil); err != nil {
				rep.fail(fmt.Sprintf("round %d: the workload failed: %v", round, err), nil)
				return
			}
		}
		r := copyd(t, args...)
		if r.code != 0 {
			rep.fail(fmt.Sprintf("round %d: copyd sync: %s", round, r), nil)
			return
		}
		if diffs := g.diff(dst, mirror); len(diffs) > 0 {
			last := strings.TrimSpace(r.stdout)
			last = last[strings.LastIndexByte(last, '\n')+1:]
			rep.fail(fmt.Sprintf("round %d: the destination differs after the sync (%s)", round, last), diffs)
			return
		}
	}
}

func propRunOne(t *testing.T, seed uint64) {
	_, control := propVariant(seed, propGrow)
	src, dst, g := propDirs(t, seed)
	g.control = control
	rep := propReport{t: t, test: "TestIdentityPropertyRun", seed: seed, variant: "run " + propVariantName(true, control), g: g}
	// A rescan every second: every rescan is a full comparison through the
	// index, which is what this test attacks. Without it, seeds that
	// exchange folders wait for the hourly rescan, because fsnotify files
	// exchanged watches under the wrong paths (the watcher's own issue).
	d := runPaths(t, src, dst, "--delete", "--rescan", "1s")
	var diffs []string
	settled := func() bool {
		diffs = g.diff(dst, true)
		return len(diffs) == 0
	}
	waitSettled := func(what string) bool {
		if propPoll(d, propWait, settled) {
			return true
		}
		if d.exited() {
			what = fmt.Sprintf("%s: copyd exited with code %d", what, d.code)
		} else {
			what = fmt.Sprintf("%s: the destination still differs %v later", what, propWait)
		}
		rep.fail(what, diffs)
		return false
	}
	if !waitSettled("the initial copy") {
		return
	}
	// Pauses between operations, from a generator of their own so that the
	// operations are those of the sync runner: mostly bursts, sometimes a
	// gap past the settle time so that copies run between operations.
	pace := rand.New(rand.NewPCG(seed, 2))
	pause := func() {
		switch {
		case pace.IntN(12) == 0:
			time.Sleep(time.Duration(60+pace.IntN(100)) * time.Millisecond)
		case pace.IntN(4) == 0:
			time.Sleep(time.Duration(pace.IntN(8)) * time.Millisecond)
		}
	}
	for round := 1; round <= 3; round++ {
		if err := g.batch(round, 20+g.rng.IntN(21), pause); err != nil {
			rep.fail(fmt.Sprintf("round %d: the workload failed: %v", round, err), nil)
			return
		}
		if !waitSettled(fmt.Sprintf("round %d", round)) {
			return
		}
	}
	// A barrier: once a file written now has arrived, what copyd had
	// queued before it has run, so a late wrong write would show below.
	write(t, filepath.Join(src, "f-sentinel"), fmt.Sprint(seed))
	if !waitSettled("after the sentinel") {
		return
	}
	d.stopOK(syscall.SIGTERM)
	if diffs := g.diff(dst, true); len(diffs) > 0 {
		rep.fail("the destination changed during shutdown", diffs)
	}
}

// propPoll polls ok every 20 ms until it holds, for up to timeout; it
// gives up early if copyd exits. (Each look hashes both trees, and up to
// 20 seeds poll at once.)
func propPoll(d *daemon, timeout time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if ok() {
			return true
		}
		if d.exited() || time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// propReport fails a seed with what a replay needs.
type propReport struct {
	t       *testing.T
	test    string
	seed    uint64
	variant string
	g       *propGen
}

func (r propReport) fail(what string, diffs []string) {
	r.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d (%s): %s\n", r.seed, r.variant, what)
	fmt.Fprintf(&b, "replay: COPYD_IDENTITY_SEED=%d go test -count=1 -run '%s/^seed=%d$' ./cmd/copyd/\n", r.seed, r.test, r.seed)
	if len(diffs) > 0 {
		content := 0
		for _, d := range diffs {
			if strings.Contains(d, ": content differs") {
				content++
			}
		}
		fmt.Fprintf(&b, "%d differences, %d of them wrong content:\n", len(diffs), content)
		const show = 40
		for _, d := range diffs[:min(show, len(diffs))] {
			fmt.Fprintf(&b, "  %s\n", d)
		}
		if len(diffs) > show {
			fmt.Fprintf(&b, "  ... and %d more\n", len(diffs)-show)
		}
	}
	fmt.Fprintf(&b, "%d ops (rR.NN: round R, op NN; round 0 built the tree before the first copy; every entry's mtime is %s):\n",
		len(r.g.ops), propStamp.UTC().Format(time.RFC3339))
	b.WriteString(strings.Join(r.g.ops, "\n"))
	r.t.Error(b.String())
}

// propGen applies the random operations of one seed to a source tree.
type propGen struct {
	rng          *rand.Rand
	src, outside string // outside: a sibling of src that subtrees move out to and back from
	control      propControl
	next         int // counter for fresh names
	round        int
	ops          []string
	origins      map[[sha256.Size]byte]string // content → the op that wrote it first
	movedOut     map[string]string            // name outside → its path in the source
}

func newPropGen(seed uint64, src, outside string) *propGen {
	return &propGen{
		rng: rand.New(rand.NewPCG(seed, 1)), src: src, outside: outside,
		origins: map[[sha256.Size]byte]string{}, movedOut: map[string]string{},
	}
}

// record logs an operation and returns its label.
func (g *propGen) record(format string, args ...any) string {
	label := fmt.Sprintf("r%d.%02d", g.round, len(g.ops))
	g.ops = append(g.ops, label+" "+fmt.Sprintf(format, args...))
	return g.ops[len(g.ops)-1]
}

func (g *propGen) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *propGen) abs(rel string) string { return filepath.Join(g.src, rel) }

func (g *propGen) exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// name returns a name for a new entry in the folder dir (an absolute
// path): a free one of the pool, or a fresh one for a control seed.
func (g *propGen) name(dir, prefix string) string {
	if g.control != propAttack {
		g.next++
		return fmt.Sprintf("%s%d", prefix, 100+g.next)
	}
	var free []string
	for i := range propPool {
		if n := prefix + strconv.Itoa(i); !g.exists(filepath.Join(dir, n)) {
			free = append(free, n)
		}
	}
	if len(free) > 0 {
		return g.pick(free)
	}
	for i := propPool; ; i++ {
		if n := prefix + strconv.Itoa(i); !g.exists(filepath.Join(dir, n)) {
			return n
		}
	}
}

// size returns one of the three sizes every file has.
func (g *propGen) size() int {
	switch r := g.rng.IntN(7); {
	case r == 0:
		return 0
	case r < 4:
		return 17
	}
	return 4096
}

// content returns n fresh random bytes and their hash.
func (g *propGen) content(n int) ([]byte, [sha256.Size]byte) {
	b := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], g.rng.Uint64())
	}
	b = b[:n]
	return b, sha256.Sum256(b)
}

func propShort(sum [sha256.Size]byte) string { return hex.EncodeToString(sum[:3]) }

// wrote records the op that first wrote a content.
func (g *propGen) wrote(sum [sha256.Size]byte, label string) {
	if _, ok := g.origins[sum]; !ok {
		g.origins[sum] = label
	}
}

// stamp sets the atime and mtime of each path (absolute or relative to
// the source) back to propStamp, without following symlinks.
func (g *propGen) stamp(paths ...string) error {
	ts := unix.NsecToTimespec(propStamp.UnixNano())
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			p = g.abs(p)
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &fs.PathError{Op: "utimensat", Path: p, Err: err}
		}
	}
	return nil
}

func propDepth(rel string) int {
	if rel == "." {
		return 0
	}
	return strings.Count(rel, "/") + 1
}

// inside reports whether rel is dir or lies below it.
func propInside(rel, dir string) bool {
	return dir == "." || rel == dir || strings.HasPrefix(rel, dir+"/")
}

// seedTree builds the tree of round 0: 4 folders, 20 files, 3 symlinks, and
// one subtree outside the source to move in later.
func (g *propGen) seedTree() error {
	for range 4 {
		_, _, dirs, _, err := churnTree(g.src)
		if err != nil {
			return err
		}
		if err := g.mkdir(propShallow(dirs)); err != nil {
			return err
		}
	}
	_, _, dirs, _, err := churnTree(g.src)
	if err != nil {
		return err
	}
	for range 20 {
		if err := g.create(dirs); err != nil {
			return err
		}
	}
	for range 3 {
		if err := g.symlink(dirs); err != nil {
			return err
		}
	}
	g.next++
	out := filepath.Join(g.outside, fmt.Sprintf("o%d", g.next))
	if err := os.Mkdir(out, 0o755); err != nil {
		return err
	}
	g.movedOut[filepath.Base(out)] = "(made outside)"
	for i := range 2 {
		b, sum := g.content(g.size())
		g.wrote(sum, g.record("create outside/%s/f%d (%d bytes %s)", filepath.Base(out), i, len(b), propShort(sum)))
		p := filepath.Join(out, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		if err := g.stamp(p); err != nil {
			return err
		}
	}
	return g.stamp(out, ".")
}

// shallow returns the folders new folders may go in.
func propShallow(dirs []string) []string {
	return slices.DeleteFunc(slices.Clone(dirs), func(d string) bool { return propDepth(d) >= propMaxDepth })
}

// batch applies n operations of round, calling pause (if set) after each.
func (g *propGen) batch(round, n int, pause func()) error {
	g.round = round
	for target, tries := len(g.ops)+n, 0; len(g.ops) < target && tries < 50*n; tries++ {
		if err := g.step(); err != nil {
			return fmt.Errorf("op r%d.%02d: %w", round, len(g.ops), err)
		}
		if pause != nil {
			pause()
		}
	}
	return nil
}

func propWeight(cond bool, w int) int {
	if cond {
		return w
	}
	return 0
}

// step applies one random operation that fits the tree as it is (or none,
// when the one drawn finds nothing to work on).
func (g *propGen) step() error {
	files, links, dirs, empty, err := churnTree(g.src)
	if err != nil {
		return err
	}
	movable := churnMovable(dirs)
	outs, err := os.ReadDir(g.outside)
	if err != nil {
		return err
	}
	few, many := len(files) < 15, len(files) > 25
	type op struct {
		weight int
		do     func() error
	}
	create := op{propWeight(few, 6) + propWeight(!few, 3), func() error { return g.create(dirs) }}
	mkdir := op{propWeight(len(dirs) < 9, 2), func() error { return g.mkdir(propShallow(dirs)) }}
	moveIn := op{propWeight(len(outs) > 0, 1), func() error { return g.moveIn(outs, propShallow(dirs)) }}
	symlink := op{propWeight(len(links) < 5, 1), func() error { return g.symlink(dirs) }}
	ops := []op{create, mkdir, moveIn, symlink}
	if g.control != propGrow {
		ops = append(ops,
			op{propWeight(len(files)+len(links) > 0, 2) + propWeight(many, 3), func() error { return g.remove(append(files, links...)) }},
			op{propWeight(len(empty) > 0, 1), func() error { return g.rmdir(empty) }},
			op{propWeight(len(movable) > 0 && len(outs) < 3, 1), func() error { return g.moveOut(movable) }},
			op{propWeight(len(movable) > 0, 1), func() error { return g.renameDir(movable, propShallow(dirs)) }},
		)
	}
	switch g.control {
	case propFresh:
		ops = append(ops, op{propWeight(len(files) > 0, 3), func() error { return g.renameFile(files, dirs) }})
	case propAttack:
		ops = append(ops,
			op{propWeight(len(files) > 0, 6), func() error { return g.overwrite(files) }},
			op{propWeight(len(files) > 1, 3), func() error { return g.renameOver(files) }},
			op{propWeight(len(files) > 1, 3), func() error { return g.swap(files) }},
			op{propWeight(len(files) > 1, 3), func() error { return g.exchangeFiles(files) }},
			op{propWeight(len(movable) > 1, 2), func() error { return g.exchangeDirs(movable) }},
			op{propWeight(len(empty) > 0 && len(movable) > 1, 2), func() error { return g.renameOverEmpty(movable, empty) }},
			op{propWeight(len(links) > 0, 2), func() error { return g.relink(links) }},
		)
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	n := g.rng.IntN(total)
	for _, o := range ops {
		if n < o.weight {
			return o.do()
		}
		n -= o.weight
	}
	panic("unreachable")
}

func (g *propGen) create(dirs []string) error {
	dir := g.pick(dirs)
	rel := filepath.Join(dir, g.name(g.abs(dir), "f"))
	b, sum := g.content(g.size())
	g.wrote(sum, g.record("create %s (%d bytes %s)", rel, len(b), propShort(sum)))
	if err := os.WriteFile(g.abs(rel), b, 0o644); err != nil {
		return err
	}
	return g.stamp(rel, dir)
}

// overwrite rewrites a file in place with new bytes of its size and puts
// its mtime back: size and mtime say nothing happened.
func (g *propGen) overwrite(files []string) error {
	rel := g.pick(files)
	fi, err := os.Lstat(g.abs(rel))
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return nil // nothing new to write at size 0
	}
	b, sum := g.content(int(fi.Size()))
	g.wrote(sum, g.record("overwrite %s in place (%d bytes %s)", rel, len(b), propShort(sum)))
	f, err := os.OpenFile(g.abs(rel), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return g.stamp(rel)
}

// pair picks two different files, most of the time of the same size.
func (g *propGen) pair(files []string) (a, b string, err error) {
	a = g.pick(files)
	others := slices.DeleteFunc(slices.Clone(files), func(f string) bool { return f == a })
	if g.rng.IntN(4) > 0 {
		fa, err := os.Lstat(g.abs(a))
		if err != nil {
			return "", "", err
		}
		var same []string
		for _, f := range others {
			if fb, err := os.Lstat(g.abs(f)); err == nil && fb.Size() == fa.Size() {
				same = append(same, f)
			}
		}
		if len(same) > 0 {
			others = same
		}
	}
	return a, g.pick(others), nil
}

func (g *propGen) renameOver(files []string) error {
	a, b, err := g.pair(files)
	if err != nil {
		return err
	}
	g.record("rename %s over %s", a, b)
	if err := os.Rename(g.abs(a), g.abs(b)); err != nil {
		return err
	}
	return g.stamp(b, filepath.Dir(a), filepath.Dir(b))
}

// swap exchanges two files through a third name: mv a t; mv b a; mv t b.
func (g *propGen) swap(files []string) error {
	a, b, err := g.pair(files)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(a), g.name(g.abs(filepath.Dir(a)), "f"))
	g.record("swap %s and %s (mv via %s)", a, b, tmp)
	for _, mv := range [][2]string{{a, tmp}, {b, a}, {tmp, b}} {
		if err := os.Rename(g.abs(mv[0]), g.abs(mv[1])); err != nil {
			return err
		}
	}
	return g.stamp(a, b, filepath.Dir(a), filepath.Dir(b))
}

func (g *propGen) exchange(kind, a, b string) error {
	g.record("exchange %s %s and %s (renameat2 RENAME_EXCHANGE)", kind, a, b)
	if err := unix.Renameat2(unix.AT_FDCWD, g.abs(a), unix.AT_FDCWD, g.abs(b), unix.RENAME_EXCHANGE); err != nil {
		return &os.LinkError{Op: "renameat2", Old: a, New: b, Err: err}
	}
	return g.stamp(a, b, filepath.Dir(a), filepath.Dir(b))
}

func (g *propGen) exchangeFiles(files []string) error {
	a, b, err := g.pair(files)
	if err != nil {
		return err
	}
	return g.exchange("files", a, b)
}

// exchangeDirs exchanges two folders neither of which holds the other.
func (g *propGen) exchangeDirs(movable []string) error {
	a := g.pick(movable)
	others := slices.DeleteFunc(slices.Clone(movable), func(d string) bool { return propInside(d, a) || propInside(a, d) })
	if len(others) == 0 {
		return nil
	}
	return g.exchange("folders", a, g.pick(others))
}

func (g *propGen) remove(entries []string) error {
	rel := g.pick(entries)
	g.record("remove %s", rel)
	if err := os.Remove(g.abs(rel)); err != nil {
		return err
	}
	return g.stamp(filepath.Dir(rel))
}

func (g *propGen) mkdir(dirs []string) error {
	dir := g.pick(dirs)
	rel := filepath.Join(dir, g.name(g.abs(dir), "d"))
	g.record("mkdir %s", rel)
	if err := os.Mkdir(g.abs(rel), 0o755); err != nil {
		return err
	}
	return g.stamp(rel, dir)
}

func (g *propGen) rmdir(empty []string) error {
	rel := g.pick(empty)
	g.record("rmdir %s", rel)
	if err := os.Remove(g.abs(rel)); err != nil {
		return err
	}
	return g.stamp(filepath.Dir(rel))
}

// moveOut moves a subtree to the folder beside the source.
func (g *propGen) moveOut(movable []string) error {
	rel := g.pick(movable)
	g.next++
	name := fmt.Sprintf("o%d", g.next)
	g.record("move %s out to outside/%s", rel, name)
	if err := os.Rename(g.abs(rel), filepath.Join(g.outside, name)); err != nil {
		return err
	}
	g.movedOut[name] = rel
	return g.stamp(filepath.Dir(rel), filepath.Join(g.outside, name))
}

// moveIn moves a subtree from outside into the source under a name other
// than the one it left with; for an attack seed, half the time after
// rewriting one of its files in place out there, unwatched.
func (g *propGen) moveIn(outs []fs.DirEntry, dirs []string) error {
	name := outs[g.rng.IntN(len(outs))].Name()
	from := filepath.Join(g.outside, name)
	if g.control == propAttack && g.rng.IntN(2) == 0 {
		files, _, _, _, err := churnTree(from)
		if err != nil {
			return err
		}
		if len(files) > 0 {
			rel := g.pick(files)
			p := filepath.Join(from, rel)
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			b, sum := g.content(int(fi.Size()))
			g.wrote(sum, g.record("overwrite outside/%s/%s in place (%d bytes %s)", name, rel, len(b), propShort(sum)))
			if err := os.WriteFile(p, b, 0); err != nil {
				return err
			}
			if err := g.stamp(p); err != nil {
				return err
			}
		}
	}
	var to string
	for range 5 {
		dir := g.pick(dirs)
		if to = filepath.Join(dir, g.name(g.abs(dir), "d")); to != g.movedOut[name] {
			break
		}
	}
	if to == g.movedOut[name] {
		return nil
	}
	g.record("move outside/%s (once %s) in as %s", name, g.movedOut[name], to)
	if err := os.Rename(from, g.abs(to)); err != nil {
		return err
	}
	delete(g.movedOut, name)
	return g.stamp(to, filepath.Dir(to))
}

// renameDir moves a folder to a new name in a folder outside it.
func (g *propGen) renameDir(movable, dirs []string) error {
	from := g.pick(movable)
	targets := slices.DeleteFunc(slices.Clone(dirs), func(d string) bool { return propInside(d, from) })
	if len(targets) == 0 {
		return nil
	}
	dir := g.pick(targets)
	to := filepath.Join(dir, g.name(g.abs(dir), "d"))
	g.record("rename folder %s -> %s", from, to)
	if err := os.Rename(g.abs(from), g.abs(to)); err != nil {
		return err
	}
	return g.stamp(to, filepath.Dir(from), dir)
}

// renameOverEmpty renames a folder over an empty folder, which rename(2)
// replaces.
func (g *propGen) renameOverEmpty(movable, empty []string) error {
	to := g.pick(empty)
	froms := slices.DeleteFunc(slices.Clone(movable), func(d string) bool { return propInside(to, d) })
	if len(froms) == 0 {
		return nil
	}
	from := g.pick(froms)
	g.record("rename folder %s over empty folder %s", from, to)
	// Not os.Rename: it refuses any existing folder as the new name.
	if err := syscall.Rename(g.abs(from), g.abs(to)); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return g.stamp(to, filepath.Dir(from), filepath.Dir(to))
}

// renameFile moves a file to a fresh name (propFresh seeds only).
func (g *propGen) renameFile(files, dirs []string) error {
	from, dir := g.pick(files), g.pick(dirs)
	to := filepath.Join(dir, g.name(g.abs(dir), "f"))
	g.record("rename %s -> %s", from, to)
	if err := os.Rename(g.abs(from), g.abs(to)); err != nil {
		return err
	}
	return g.stamp(to, filepath.Dir(from), dir)
}

// linkTarget returns a random target text of n characters.
func (g *propGen) linkTarget(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[g.rng.IntN(len(letters))]
	}
	return "t-" + string(b)
}

func (g *propGen) symlink(dirs []string) error {
	dir := g.pick(dirs)
	rel := filepath.Join(dir, g.name(g.abs(dir), "l"))
	target := g.linkTarget(5)
	g.record("symlink %s -> %s", rel, target)
	if err := os.Symlink(target, g.abs(rel)); err != nil {
		return err
	}
	return g.stamp(rel, dir)
}

// relink replaces a symlink by one with another target of the same length
// (made beside it and renamed over it, as ln -sf does).
func (g *propGen) relink(links []string) error {
	rel := g.pick(links)
	old, err := os.Readlink(g.abs(rel))
	if err != nil {
		return err
	}
	target := g.linkTarget(max(len(old)-2, 1))
	tmp := filepath.Join(filepath.Dir(rel), g.name(g.abs(filepath.Dir(rel)), "l"))
	g.record("replace symlink %s -> %s (was %s; via %s)", rel, target, old, tmp)
	if err := os.Symlink(target, g.abs(tmp)); err != nil {
		return err
	}
	if err := os.Rename(g.abs(tmp), g.abs(rel)); err != nil {
		return err
	}
	return g.stamp(rel, filepath.Dir(rel))
}

// propEntry is what the comparison looks at for one path.
type propEntry struct {
	kind   string // file, folder, symlink or special
	sum    [sha256.Size]byte
	size   int
	target string
}

// propTree lists root by content, never following symlinks; entries
// that vanish while it reads (a destination being written) are left out.
func propTree(root string) (map[string]propEntry, error) {
	m := map[string]propEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != root && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		var e propEntry
		switch t := d.Type(); {
		case t&fs.ModeSymlink != 0:
			e.kind = "symlink"
			e.target, err = os.Readlink(p)
		case t.IsDir():
			e.kind = "folder"
		case t.IsRegular():
			e.kind = "file"
			var b []byte
			b, err = os.ReadFile(p)
			e.sum, e.size = sha256.Sum256(b), len(b)
		default:
			e.kind = "special"
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		m[rel] = e
		return err
	})
	return m, err
}

// describe names a content by its size, hash and the op that wrote it.
func (g *propGen) describe(e propEntry) string {
	from := g.origins[e.sum]
	if from == "" {
		from = "no op wrote it"
	}
	return fmt.Sprintf("%d bytes %s from [%s]", e.size, propShort(e.sum), from)
}

// diff returns how dst falls short of the source, one line per path:
// with mirror it must hold exactly the source's names; without, at least.
// Temp files left in dst count too.
func (g *propGen) diff(dst string, mirror bool) []string {
	want, err := propTree(g.src)
	if err != nil {
		return []string{fmt.Sprintf("read the source: %v", err)}
	}
	got, err := propTree(dst)
	if err != nil {
		return []string{fmt.Sprintf("read the destination: %v", err)}
	}
	var diffs []string
	for _, rel := range slices.Sorted(maps.Keys(want)) {
		w, have := want[rel], got[rel]
		switch {
		case have.kind == "":
			diffs = append(diffs, fmt.Sprintf("%q (%s) missing in the destination", rel, w.kind))
		case have.kind != w.kind:
			diffs = append(diffs, fmt.Sprintf("%q is a %s in the destination, want a %s", rel, have.kind, w.kind))
		case w.kind == "file" && have.sum != w.sum:
			diffs = append(diffs, fmt.Sprintf("%q: content differs: the destination holds %s, the source %s", rel, g.describe(have), g.describe(w)))
		case w.kind == "symlink" && have.target != w.target:
			diffs = append(diffs, fmt.Sprintf("%q: symlink target %q, want %q", rel, have.target, w.target))
		}
	}
	if mirror {
		for _, rel := range slices.Sorted(maps.Keys(got)) {
			if _, ok := want[rel]; !ok {
				diffs = append(diffs, fmt.Sprintf("%q (%s) in the destination but not in the source", rel, got[rel].kind))
			}
		}
	}
	temps, err := treetest.Temps(dst)
	if err != nil {
		diffs = append(diffs, fmt.Sprintf("walk %s for temp files: %v", dst, err))
	}
	for _, p := range temps {
		diffs = append(diffs, fmt.Sprintf("temp file left behind: %q", p))
	}
	return diffs
}
