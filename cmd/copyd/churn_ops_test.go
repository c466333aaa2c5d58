//go:build unix

package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// churner mutates a source tree at random for TestChurn. The same seed gives
// the same sequence of operations (only its length depends on the clock):
// the tree is listed in lexical order before every choice and nothing else
// writes to the source.
//
// Names carry their type (f files, d folders, l symlinks) and are never
// reused except by a rename onto an existing file, so that a destination
// that keeps what the source deleted never holds a path whose type the
// source later changes: that case is judged only with --delete, where the
// retype operation covers it. Modes always leave the owner rwx on folders
// and rw on files, so the workload can go on and the trees stay readable
// without root; no special files are made.
type churner struct {
	rng     *rand.Rand
	src     string // the pair's source
	outside string // a sibling of the source; subtrees move between the two
	delete  bool   // the pair mirrors deletions: retype is allowed
	next    int    // counter for fresh names
	ops     []string
	states  *churnStates // when set, filled with every state the workload gives a file or symlink
}

// churnStates is every state a churner gave a file or a symlink, in the
// source or outside it (its subtrees move in), under any name: the hash of
// each complete content, the empty one included (a write truncates or
// creates the file first), and each symlink target.
//
// Apart from those, midWrite holds the states a file passes through inside
// one write call: the kernel copies a write into the file page by page
// and sets the size and mtime before the last page lands, so a reader
// (any backup tool) can meet a prefix that ends on a page boundary and
// find size and mtime unchanged after reading it. copyd's scans leave
// files modified within the settle time alone, but a change's own copy,
// which runs after the settle time, can meet the next write mid-call. Such
// a state is counted apart, never taken for a copy's fault.
type churnStates struct {
	contents map[[sha256.Size]byte]bool
	midWrite map[[sha256.Size]byte]bool
	targets  map[string]bool
}

func newChurnStates() *churnStates {
	return &churnStates{contents: map[[sha256.Size]byte]bool{}, midWrite: map[[sha256.Size]byte]bool{}, targets: map[string]bool{}}
}

// had reports whether data is a content some file had.
func (s *churnStates) had(data []byte) bool { return s.contents[sha256.Sum256(data)] }

// hadMidWrite reports whether data is a state some file had inside a
// write call (see churnStates).
func (s *churnStates) hadMidWrite(data []byte) bool { return s.midWrite[sha256.Sum256(data)] }

// saw records that a file holds b now.
func (c *churner) saw(b []byte) {
	if c.states != nil {
		c.states.contents[sha256.Sum256(b)] = true
	}
}

// sawWrite records the states a file that held old passes through while
// one write call appends b to it: old plus the part of b that ends on
// each page boundary.
func (c *churner) sawWrite(old, b []byte) {
	if c.states == nil {
		return
	}
	const page = 4096
	for end := page - len(old)%page; end < len(b); end += page {
		c.states.midWrite[sha256.Sum256(append(slices.Clip(old), b[:end]...))] = true
	}
}

// writeFile is os.WriteFile, recording the states it gives the file:
// empty, then b (and b's page-aligned prefixes on the way).
func (c *churner) writeFile(name string, b []byte, mode fs.FileMode) error {
	c.saw(nil)
	c.sawWrite(nil, b)
	c.saw(b)
	return os.WriteFile(name, b, mode)
}

// changeFile records the content change makes of name's current one, when
// states are recorded: appends and truncations keep part of the file.
func (c *churner) changeFile(name string, change func(old []byte) []byte) error {
	if c.states == nil {
		return nil
	}
	old, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	c.saw(change(old))
	return nil
}

// symlinkTo is os.Symlink, recording the target.
func (c *churner) symlinkTo(target, name string) error {
	if c.states != nil {
		c.states.targets[target] = true
	}
	return os.Symlink(target, name)
}

var (
	churnFileModes = []fs.FileMode{0o644, 0o600, 0o640, 0o664, 0o755, 0o700}
	churnDirModes  = []fs.FileMode{0o755, 0o700, 0o750, 0o775, 0o711}
)

func newChurner(seed uint64, src, outside string, delete bool) *churner {
	return &churner{rng: rand.New(rand.NewPCG(seed, seed)), src: src, outside: outside, delete: delete}
}

func (c *churner) fresh(prefix string) string {
	c.next++
	return fmt.Sprintf("%s%d", prefix, c.next)
}

func (c *churner) record(format string, args ...any) {
	c.ops = append(c.ops, fmt.Sprintf("%4d %s", len(c.ops), fmt.Sprintf(format, args...)))
}

// content returns random bytes: mostly small, sometimes large enough that a
// copy is still running when the next change lands.
func (c *churner) content() []byte {
	var n int
	switch r := c.rng.IntN(20); {
	case r == 0:
		n = 0
	case r < 3:
		n = 64<<10 + c.rng.IntN(192<<10)
	default:
		n = 1 + c.rng.IntN(8<<10)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(c.rng.Uint32())
	}
	return b
}

func (c *churner) pick(list []string) string { return list[c.rng.IntN(len(list))] }

func (c *churner) mode(list []fs.FileMode) fs.FileMode { return list[c.rng.IntN(len(list))] }

// churnTree lists root's files, symlinks, folders (root itself as ".")
// and empty folders, in lexical order.
func churnTree(root string) (files, links, dirs, empty []string, err error) {
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			links = append(links, rel)
		case d.IsDir():
			dirs = append(dirs, rel)
			if ents, err := os.ReadDir(p); err == nil && len(ents) == 0 && rel != "." {
				empty = append(empty, rel)
			}
		default:
			files = append(files, rel)
		}
		return nil
	})
	return files, links, dirs, empty, err
}

// seed fills the source with ~50 files in ~10 folders plus a few symlinks,
// and outside with three subtrees to move in later.
func (c *churner) seed() error {
	for range 10 {
		if err := c.mkdir(); err != nil {
			return err
		}
	}
	for range 50 {
		if err := c.create(); err != nil {
			return err
		}
	}
	for range 5 {
		if err := c.symlink(); err != nil {
			return err
		}
	}
	for range 3 {
		top := filepath.Join(c.outside, c.fresh("d"))
		sub := filepath.Join(top, c.fresh("d"))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		for _, dir := range []string{top, top, sub} {
			if err := c.writeFile(filepath.Join(dir, c.fresh("f")), c.content(), 0o644); err != nil {
				return err
			}
		}
		if err := c.symlinkTo("../"+filepath.Base(sub), filepath.Join(sub, c.fresh("l"))); err != nil {
			return err
		}
	}
	c.record("seeded: 10 folders, 50 files, 5 symlinks; 3 subtrees outside")
	return nil
}

// run applies random operations until the deadline, pacing them with
// short random pauses (so that copyd sees both bursts and gaps).
func (c *churner) run(until time.Time) error {
	return c.runWhile(func() bool { return time.Now().Before(until) })
}

// runWhile is run that goes on as long as more reports true; it calls
// more before every operation, from its own goroutine.
func (c *churner) runWhile(more func() bool) error {
	for more() {
		if err := c.step(); err != nil {
			return fmt.Errorf("op %d: %w", len(c.ops), err)
		}
		if c.rng.IntN(4) == 0 {
			time.Sleep(time.Duration(c.rng.IntN(8)) * time.Millisecond)
		}
	}
	return nil
}

// step applies one random operation that fits the tree as it is.
func (c *churner) step() error {
	files, links, dirs, _, err := churnTree(c.src)
	if err != nil {
		return err
	}
	// Keep the tree near its seeded size: grow when small, shrink when big.
	grow := len(files) < 70
	ops := []churnOp{
		{churnIf(grow, 6, 1), c.create},
		{churnIf(len(files) > 0, 6, 0), c.overwrite},
		{churnIf(len(files) > 0, 4, 0), c.appendTo},
		{churnIf(len(files) > 0, 3, 0), c.truncate},
		{churnIf(len(files) > 0, 3, 0), c.replace},
		{churnIf(len(files) > 0, 4, 0), c.renameFile},
		{churnIf(len(dirs) > 1, 2, 0), c.renameDir},
		{churnIf(len(dirs) > 1, 1, 0), c.moveOut},
		{1, c.moveIn},
		{churnIf(len(files) > 0, churnIf(grow, 2, 6), 0), c.removeFile},
		{churnIf(len(dirs) > 1 && !grow, 1, 0), c.removeDir},
		{churnIf(len(dirs) < 20, 2, 0), c.mkdir},
		{1, c.rmdir},
		{churnIf(len(files) > 0, 2, 0), c.chmodFile},
		{1, c.chmodDir},
		{churnIf(len(files) > 0, 2, 0), c.touch},
		{churnIf(len(links) < 15, 2, 0), c.symlink},
		{churnIf(len(links) > 0, 1, 0), c.relink},
		{churnIf(c.delete, 1, 0), c.retype},
	}
	ops = append(ops, c.systemOps(len(files), len(dirs))...)
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	n := c.rng.IntN(total)
	for _, o := range ops {
		if n < o.weight {
			return o.do()
		}
		n -= o.weight
	}
	panic("unreachable")
}

// churnOp is an operation of the workload and how often it is picked.
type churnOp struct {
	weight int
	do     func() error
}

func churnIf(cond bool, yes, no int) int {
	if cond {
		return yes
	}
	return no
}

func (c *churner) abs(rel string) string { return filepath.Join(c.src, rel) }

func (c *churner) lists() (files, links, dirs, empty []string) {
	files, links, dirs, empty, _ = churnTree(c.src)
	return
}

func (c *churner) create() error {
	_, _, dirs, _ := c.lists()
	rel := filepath.Join(c.pick(dirs), c.fresh("f"))
	b, mode := c.content(), c.mode(churnFileModes)
	c.record("create %s (%d bytes, %#o)", rel, len(b), mode)
	if err := c.writeFile(c.abs(rel), b, mode); err != nil {
		return err
	}
	return os.Chmod(c.abs(rel), mode) // past the umask
}

// regular returns the regular files (not symlinks), or "" when none.
func (c *churner) regular() string {
	files, _, _, _ := c.lists()
	if len(files) == 0 {
		return ""
	}
	return c.pick(files)
}

func (c *churner) overwrite() error {
	rel := c.regular()
	if rel == "" {
		return nil
	}
	b := c.content()
	c.record("overwrite %s (%d bytes)", rel, len(b))
	return c.writeFile(c.abs(rel), b, 0)
}

func (c *churner) appendTo() error {
	rel := c.regular()
	if rel == "" {
		return nil
	}
	b := c.content()
	c.record("append %s (%d bytes)", rel, len(b))
	if err := c.changeFile(c.abs(rel), func(old []byte) []byte {
		c.sawWrite(old, b)
		return append(slices.Clip(old), b...)
	}); err != nil {
		return err
	}
	f, err := os.OpenFile(c.abs(rel), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *churner) truncate() error {
	rel := c.regular()
	if rel == "" {
		return nil
	}
	fi, err := os.Stat(c.abs(rel))
	if err != nil {
		return err
	}
	size := int64(0)
	if fi.Size() > 0 && c.rng.IntN(3) > 0 {
		size = c.rng.Int64N(fi.Size())
	}
	c.record("truncate %s to %d bytes", rel, size)
	if err := c.changeFile(c.abs(rel), func(old []byte) []byte { return old[:size] }); err != nil {
		return err
	}
	return os.Truncate(c.abs(rel), size)
}

// replace writes a new version beside a file and renames it over the file,
// as editors and atomic writers do.
func (c *churner) replace() error {
	rel := c.regular()
	if rel == "" {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(rel), "."+filepath.Base(rel)+".new")
	b := c.content()
	c.record("replace %s via %s (%d bytes)", rel, tmp, len(b))
	if err := c.writeFile(c.abs(tmp), b, 0o644); err != nil {
		return err
	}
	return os.Rename(c.abs(tmp), c.abs(rel))
}

func (c *churner) renameFile() error {
	files, links, dirs, _ := c.lists()
	from := c.pick(append(files, links...))
	var to string
	if !strings.HasPrefix(filepath.Base(from), "l") && len(files) > 1 && c.rng.IntN(4) == 0 {
		to = c.pick(files) // onto an existing file
		if to == from {
			return nil
		}
	} else {
		to = filepath.Join(c.pick(dirs), c.fresh(filepath.Base(from)[:1]))
	}
	c.record("rename %s -> %s", from, to)
	return os.Rename(c.abs(from), c.abs(to))
}

// churnMovable returns the folders other than the root, or nil.
func churnMovable(dirs []string) []string {
	return slices.DeleteFunc(slices.Clone(dirs), func(d string) bool { return d == "." })
}

func (c *churner) renameDir() error {
	_, _, dirs, _ := c.lists()
	from := c.pick(churnMovable(dirs))
	targets := slices.DeleteFunc(slices.Clone(dirs), func(d string) bool {
		return d == from || strings.HasPrefix(d, from+"/")
	})
	to := filepath.Join(c.pick(targets), c.fresh("d"))
	c.record("rename dir %s -> %s", from, to)
	return os.Rename(c.abs(from), c.abs(to))
}

func (c *churner) moveOut() error {
	_, _, dirs, _ := c.lists()
	from := c.pick(churnMovable(dirs))
	to := filepath.Join(c.outside, c.fresh("d"))
	c.record("move out %s -> outside/%s", from, filepath.Base(to))
	return os.Rename(c.abs(from), to)
}

func (c *churner) moveIn() error {
	ents, err := os.ReadDir(c.outside)
	if err != nil || len(ents) == 0 {
		return err
	}
	from := ents[c.rng.IntN(len(ents))].Name()
	_, _, dirs, _ := c.lists()
	to := filepath.Join(c.pick(dirs), c.fresh("d"))
	c.record("move in outside/%s -> %s", from, to)
	return os.Rename(filepath.Join(c.outside, from), c.abs(to))
}

func (c *churner) removeFile() error {
	files, links, _, _ := c.lists()
	rel := c.pick(append(files, links...))
	c.record("remove %s", rel)
	return os.Remove(c.abs(rel))
}

func (c *churner) removeDir() error {
	_, _, dirs, _ := c.lists()
	rel := c.pick(churnMovable(dirs))
	c.record("remove dir %s (recursive)", rel)
	return os.RemoveAll(c.abs(rel))
}

func (c *churner) mkdir() error {
	_, _, dirs, _ := c.lists()
	rel := filepath.Join(c.pick(dirs), c.fresh("d"))
	mode := c.mode(churnDirModes)
	c.record("mkdir %s (%#o)", rel, mode)
	if err := os.Mkdir(c.abs(rel), mode); err != nil {
		return err
	}
	return os.Chmod(c.abs(rel), mode)
}

func (c *churner) rmdir() error {
	_, _, _, empty := c.lists()
	if len(empty) == 0 {
		return nil
	}
	rel := c.pick(empty)
	c.record("rmdir %s", rel)
	return os.Remove(c.abs(rel))
}

func (c *churner) chmodFile() error {
	rel := c.regular()
	if rel == "" {
		return nil
	}
	mode := c.mode(churnFileModes)
	c.record("chmod %s %#o", rel, mode)
	return os.Chmod(c.abs(rel), mode)
}

func (c *churner) chmodDir() error {
	_, _, dirs, _ := c.lists()
	rel := c.pick(dirs)
	mode := c.mode(churnDirModes)
	c.record("chmod dir %s %#o", rel, mode)
	return os.Chmod(c.abs(rel), mode)
}

// touch sets a file's mtime alone, to a whole second in the past.
func (c *churner) touch() error {
	rel := c.regular()
	if rel == "" {
		return nil
	}
	mtime := time.Unix(1_600_000_000+c.rng.Int64N(100_000_000), 0)
	c.record("touch %s %s", rel, mtime.UTC().Format(time.RFC3339))
	return os.Chtimes(c.abs(rel), time.Time{}, mtime)
}

// target returns a relative symlink target for a link in dir: an existing
// entry (file or folder) or a dangling name.
func (c *churner) target(dir string) string {
	files, _, dirs, _ := c.lists()
	switch c.rng.IntN(4) {
	case 0:
		return c.fresh("missing")
	case 1:
		return "../" + c.fresh("nowhere") + "/x"
	default:
		to := c.pick(append(files, dirs...))
		t, err := filepath.Rel(dir, to)
		if err != nil {
			return c.fresh("missing")
		}
		return t
	}
}

func (c *churner) symlink() error {
	_, _, dirs, _ := c.lists()
	dir := c.pick(dirs)
	rel := filepath.Join(dir, c.fresh("l"))
	target := c.target(dir)
	c.record("symlink %s -> %s", rel, target)
	return c.symlinkTo(target, c.abs(rel))
}

// relink points an existing symlink elsewhere (remove, then symlink).
func (c *churner) relink() error {
	_, links, _, _ := c.lists()
	rel := c.pick(links)
	target := c.target(filepath.Dir(rel))
	c.record("relink %s -> %s", rel, target)
	if err := os.Remove(c.abs(rel)); err != nil {
		return err
	}
	return c.symlinkTo(target, c.abs(rel))
}

// retype replaces an entry by one of another type under the same name
// (file → folder, folder → file, file → symlink); used only with --delete.
func (c *churner) retype() error {
	files, _, dirs, _ := c.lists()
	switch r := c.rng.IntN(3); {
	case r == 0 && len(files) > 0:
		rel := c.pick(files)
		c.record("retype file %s -> folder with one file", rel)
		if err := os.Remove(c.abs(rel)); err != nil {
			return err
		}
		if err := os.Mkdir(c.abs(rel), 0o755); err != nil {
			return err
		}
		return c.writeFile(filepath.Join(c.abs(rel), c.fresh("f")), c.content(), 0o644)
	case r == 1 && len(dirs) > 1:
		rel := c.pick(churnMovable(dirs))
		c.record("retype folder %s -> file", rel)
		if err := os.RemoveAll(c.abs(rel)); err != nil {
			return err
		}
		return c.writeFile(c.abs(rel), c.content(), 0o644)
	case r == 2 && len(files) > 0:
		rel := c.pick(files)
		target := c.target(filepath.Dir(rel))
		c.record("retype file %s -> symlink to %s", rel, target)
		if err := os.Remove(c.abs(rel)); err != nil {
			return err
		}
		return c.symlinkTo(target, c.abs(rel))
	}
	return nil
}
