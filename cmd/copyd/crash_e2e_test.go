//go:build unix

package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/internal/tempname"
)

// versions records the hash of every complete version each source file
// ever had, so that a destination file can be checked against them.
type versions struct {
	mu   sync.Mutex
	seen map[string]map[[32]byte]bool // rel → hashes
}

func (v *versions) add(rel string, data []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen[rel] == nil {
		v.seen[rel] = map[[32]byte]bool{}
	}
	v.seen[rel][sha256.Sum256(data)] = true
}

func (v *versions) had(rel string, data []byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.seen[rel][sha256.Sum256(data)]
}

// writeVersion writes a new complete version of rel the way careful
// programs do (a temp file, then rename; the temp is in work, outside the
// source but on its filesystem), so that the source never holds a partial
// file, and records it.
func writeVersion(t *testing.T, v *versions, work, src, rel string, rng *rand.Rand) {
	t.Helper()
	n := 1 + rng.IntN(4<<20)
	if rng.IntN(3) == 0 {
		n = rng.IntN(8 << 10)
	}
	data := make([]byte, n)
	for i := 0; i < n; i += 8 {
		x := rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			data[i+j] = byte(x >> (8 * j))
		}
	}
	v.add(rel, data) // before it can be seen
	p := filepath.Join(src, rel)
	tmp := filepath.Join(work, "writing")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

// crashFound is what checkCrashed saw in a destination after a kill.
type crashFound struct {
	files, links int      // checked under their final names
	temps        []string // temp files the kill left: the next start must remove them
}

// checkCrashed asserts that every file under its final name in dst is a
// complete version of its source (complete reports whether the source had
// data, for the file's path rel) and, unless target is nil, that every
// symlink points where a source symlink pointed (target nil: symlinks are
// not looked at).
func checkCrashed(t *testing.T, dst string, kill int, complete func(rel string, data []byte) bool, target func(string) bool) crashFound {
	t.Helper()
	var found crashFound
	err := filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		link := d.Type()&fs.ModeSymlink != 0
		if !d.Type().IsRegular() && (!link || target == nil) {
			return nil
		}
		rel, _ := filepath.Rel(dst, p)
		rel = filepath.ToSlash(rel)
		if tempname.Is(d.Name()) {
			found.temps = append(found.temps, p)
			return nil
		}
		if link {
			found.links++
			to, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if !target(to) {
				t.Errorf("after kill %d: symlink %s -> %q: no source symlink ever had that target", kill, rel, to)
			}
			return nil
		}
		found.files++
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !complete(rel, data) {
			t.Errorf("after kill %d: %s (%d bytes, sha256 %.8x) is no complete version its source ever had", kill, rel, len(data), sha256.Sum256(data))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return found
}

// crashKnobs returns the number of kills, from the variable killsVar (def
// when unset), and the seed, from COPYD_CRASH_SEED (the clock when unset).
func crashKnobs(t *testing.T, killsVar string, def int) (kills int, seed uint64) {
	t.Helper()
	kills = def
	if s := os.Getenv(killsVar); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q is not a positive number", killsVar, s)
		}
		kills = n
	}
	seed = uint64(time.Now().UnixNano())
	if s := os.Getenv("COPYD_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("COPYD_CRASH_SEED=%q: want a seed (an unsigned integer)", s)
		}
	}
	return kills, seed
}

// crash kills copyd with SIGKILL and waits for it to be gone.
func (d *daemon) crash() {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		d.t.Fatal(err)
	}
	<-d.done
}

// TestCrashLeavesOnlyCompleteFiles kills copyd with SIGKILL at random
// moments, during the initial copy and while the source changes: after
// every kill each destination file under its final name must be a
// complete version of its source, the next start must remove every temp
// file, and the pair must converge. COPYD_CRASH_KILLS sets the number of
// kills (default 8 here; the full reliability run uses 50 or more).
func TestCrashLeavesOnlyCompleteFiles(t *testing.T) {
	t.Parallel()
	kills, seed := crashKnobs(t, "COPYD_CRASH_KILLS", 8)
	t.Logf("seed %d (replay: COPYD_CRASH_SEED=%d go test -run TestCrashLeavesOnlyCompleteFiles ./cmd/copyd/)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	base, src, dst := dirs(t, nil)
	v := &versions{seen: map[string]map[[32]byte]bool{}}
	var rels []string
	for i := range 24 {
		rel := fmt.Sprintf("d%d/f%02d.bin", i%4, i)
		if err := os.MkdirAll(filepath.Join(src, filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeVersion(t, v, base, src, rel, rng)
		rels = append(rels, rel)
	}
	var checked, leftTemps, withTemps int
	for k := 1; k <= kills; k++ {
		// Odd kills land in the initial copy (of what changed while copyd
		// was down), even ones in live copies.
		live := k%2 == 0
		if !live {
			for range 4 + rng.IntN(8) {
				writeVersion(t, v, base, src, rels[rng.IntN(len(rels))], rng)
			}
		}
		d := startRun(t, nil, "--log-format", "json", "--settle", "50ms", src, dst)
		window := 150
		if live {
			d.waitWatching(filepath.Base(src))
			for range 2 + rng.IntN(8) {
				writeVersion(t, v, base, src, rels[rng.IntN(len(rels))], rng)
			}
			window = 400
		}
		time.Sleep(time.Duration(rng.IntN(window)) * time.Millisecond) // the moment of the crash: the workload, not synchronisation
		d.crash()
		found := checkCrashed(t, dst, k, v.had, nil)
		checked += found.files
		leftTemps += len(found.temps)
		if len(found.temps) > 0 {
			withTemps++
		}
	}
	t.Logf("%d kills (half during the initial copy, half during live copies): %d destination files checked complete, %d temp files left by %d of the kills",
		kills, checked, leftTemps, withTemps)
	// The next start removes the temps of the crashes and converges.
	d := startRun(t, nil, "--log-format", "json", "--settle", "50ms", src, dst)
	d.waitWatching(filepath.Base(src))
	d.converge(src, dst)
	d.finish(src, dst) // no temp file left
}
