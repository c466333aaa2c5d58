//go:build linux

package main

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// systemOps are the operations that need Linux system calls: exchanges
// (renameat2), a rename over a folder, and writes through a mapping, plus
// the swaps and pauses that found bugs in issue 11.
func (c *churner) systemOps(files, dirs int) []churnOp {
	return []churnOp{
		{churnIf(dirs > 2, 1, 0), c.exchangeDirs},
		{churnIf(dirs > 2, 1, 0), c.renameOver},
		{churnIf(c.delete && dirs > 1, 1, 0), c.folderToSymlink},
		{churnIf(c.delete && dirs > 1 && files > 0, 1, 0), c.exchangeFileDir},
		{churnIf(files > 0, 1, 0), c.pausedWrite},
		{churnIf(files > 0, 1, 0), c.mmapWrite},
	}
}

// unrelated returns two folders other than the root of which neither is
// inside the other, or "" when there are none.
func (c *churner) unrelated(dirs []string) (a, b string) {
	movable := churnMovable(dirs)
	if len(movable) < 2 {
		return "", ""
	}
	a = c.pick(movable)
	others := slices.DeleteFunc(slices.Clone(movable), func(d string) bool {
		return d == a || strings.HasPrefix(d, a+"/") || strings.HasPrefix(a, d+"/")
	})
	if len(others) == 0 {
		return "", ""
	}
	return a, c.pick(others)
}

// exchangeDirs swaps two folders in one step (renameat2 RENAME_EXCHANGE),
// as atomic deploy tools do.
func (c *churner) exchangeDirs() error {
	_, _, dirs, _ := c.lists()
	a, b := c.unrelated(dirs)
	if a == "" {
		return nil
	}
	c.record("exchange dirs %s <-> %s", a, b)
	return exchange(c.abs(a), c.abs(b))
}

// renameOver renames a folder over an empty one (mv -T), making the empty
// one first where needed.
func (c *churner) renameOver() error {
	_, _, dirs, _ := c.lists()
	a, b := c.unrelated(dirs)
	if a == "" {
		return nil
	}
	to := filepath.Join(b, c.fresh("d"))
	c.record("mkdir %s, then rename dir %s over it (mv -T)", to, a)
	if err := os.Mkdir(c.abs(to), 0o755); err != nil {
		return err
	}
	return unix.Rename(c.abs(a), c.abs(to)) // rename(2): os.Rename refuses to replace a folder
}

// folderToSymlink replaces a folder by a symlink to a folder outside the
// source (rm -rf D; ln -s ...): copyd must copy the link, never what it
// points to. Used only with --delete (it changes the type of a name).
func (c *churner) folderToSymlink() error {
	_, _, dirs, _ := c.lists()
	rel := c.pick(churnMovable(dirs))
	target := c.outside
	if c.rng.IntN(2) == 0 {
		if t, err := filepath.Rel(filepath.Dir(c.abs(rel)), c.outside); err == nil {
			target = t
		}
	}
	c.record("replace folder %s by a symlink to %s", rel, target)
	if err := os.RemoveAll(c.abs(rel)); err != nil {
		return err
	}
	return c.symlinkTo(target, c.abs(rel))
}

// exchangeFileDir swaps a file and a folder in one step. Used only with
// --delete (the names change type).
func (c *churner) exchangeFileDir() error {
	files, _, dirs, _ := c.lists()
	f := c.pick(files)
	ds := slices.DeleteFunc(churnMovable(dirs), func(d string) bool { return strings.HasPrefix(f, d+"/") })
	if len(ds) == 0 {
		return nil
	}
	d := c.pick(ds)
	c.record("exchange file %s <-> dir %s", f, d)
	return exchange(c.abs(f), c.abs(d))
}

// pausedWrite rewrites a file in two writes with a pause between them,
// the file open all along (a download, a recorder). The first half is a
// state the file has for a while; copyd should wait for the close, but a
// scan may meet it, so it counts as a mid-write state.
func (c *churner) pausedWrite() error {
	rel := c.regular()
	if rel == "" {
		return nil
	}
	b := c.content()
	pause := time.Duration(50+c.rng.IntN(250)) * time.Millisecond
	half := len(b) / 2
	c.record("write %s in two halves %v apart (%d bytes)", rel, pause, len(b))
	if c.states != nil {
		c.saw(nil)
		c.states.midWrite[sha256.Sum256(b[:half])] = true
		c.sawWrite(nil, b[:half])
		c.sawWrite(b[:half], b[half:])
		c.saw(b)
	}
	f, err := os.OpenFile(c.abs(rel), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b[:half])
	if err == nil {
		time.Sleep(pause)
		_, err = f.Write(b[half:])
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mmapWrite changes a file through a shared mapping, as LMDB and SQLite
// do: no write event, only the close.
func (c *churner) mmapWrite() error {
	rel := c.regular()
	if rel == "" {
		return nil
	}
	f, err := os.OpenFile(c.abs(rel), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	off := c.rng.Int64N(fi.Size())
	patch := []byte(c.fresh("mmap"))
	c.record("write %q at %d of %s through a shared mapping", patch, off, rel)
	if err := c.changeFile(c.abs(rel), func(old []byte) []byte {
		n := slices.Clone(old)
		copy(n[off:], patch)
		return n
	}); err != nil {
		return err
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	copy(m[off:], patch)
	if err := unix.Munmap(m); err != nil {
		return err
	}
	return f.Close()
}
