//go:build unix

package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/copyd/copyd/dest"
	"github.com/copyd/copyd/internal/nofollow"
	"github.com/copyd/copyd/internal/tempname"
	"golang.org/x/sys/unix"
)

// Local is a folder on a local disk.
type Local struct {
	root   string
	owners bool
}

var _ interface {
	dest.Destination
	dest.Renamer
} = (*Local)(nil)

// New returns the destination of the existing folder root.
func New(root string) (*Local, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("destination %s is not a folder", root)
	}
	return &Local{root: filepath.Clean(root), owners: os.Geteuid() == 0}, nil
}

func (l *Local) String() string { return l.root }

// Features: everything, to the nanosecond; owners as root.
func (l *Local) Features() dest.Features {
	return dest.Features{Folders: true, Symlinks: true, Modes: true, Owners: l.owners, MtimePrecision: time.Nanosecond}
}

// Close does nothing: a local folder holds no connection.
func (l *Local) Close() error { return nil }

// abs returns the path of rel below the root; rel must be clean and
// relative.
func (l *Local) abs(rel string) (string, error) {
	if err := dest.CheckRel(rel); err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(rel)), nil
}

func (l *Local) Stat(ctx context.Context, rel string) (dest.Entry, error) {
	p, err := l.abs(rel)
	if err != nil {
		return dest.Entry{}, err
	}
	var st unix.Stat_t
	if err := nofollow.Lstat(p, &st); err != nil {
		return dest.Entry{}, mapErr(err)
	}
	e := entryOf(path.Base("/"+rel), &st)
	if e.Kind == dest.Symlink {
		if e.Target, err = nofollow.Readlink(p); err != nil {
			return dest.Entry{}, mapErr(err)
		}
	}
	return e, nil
}

func (l *Local) List(ctx context.Context, rel string) ([]dest.Entry, error) {
	p, err := l.abs(rel)
	if err != nil {
		return nil, err
	}
	fd, err := nofollow.Open(p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, mapErr(&fs.PathError{Op: "open", Path: p, Err: err})
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]dest.Entry, 0, len(names))
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed meanwhile
			}
			return nil, mapErr(&fs.PathError{Op: "lstat", Path: filepath.Join(p, name), Err: err})
		}
		e := entryOf(name, &st)
		if e.Kind == dest.Symlink {
			if e.Target, err = readlinkAt(fd, name); err != nil {
				return nil, mapErr(&fs.PathError{Op: "readlink", Path: filepath.Join(p, name), Err: err})
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func (l *Local) Open(ctx context.Context, rel string) (io.ReadCloser, error) {
	p, err := l.abs(rel)
	if err != nil {
		return nil, err
	}
	f, err := nofollow.OpenFile(p, unix.O_RDONLY, 0)
	if err != nil {
		return nil, mapErr(err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %s: not a file: %w", rel, fs.ErrInvalid)
	}
	return f, nil
}

func readlinkAt(dirfd int, name string) (string, error) {
	for n := 256; ; n *= 2 {
		b := make([]byte, n)
		m, err := unix.Readlinkat(dirfd, name, b)
		if err != nil {
			return "", err
		}
		if m < n {
			return string(b[:m]), nil
		}
	}
}

func entryOf(name string, st *unix.Stat_t) dest.Entry {
	e := dest.Entry{Name: name, Size: st.Size, ModTime: time.Unix(st.Mtim.Unix()), UID: int(st.Uid), GID: int(st.Gid),
		Mode: dest.FileMode(uint32(st.Mode))}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		e.Kind = dest.File
	case unix.S_IFDIR:
		e.Kind = dest.Dir
	case unix.S_IFLNK:
		e.Kind = dest.Symlink
	default:
		e.Kind = dest.Other
	}
	if e.Kind != dest.File {
		e.Size = 0
	}
	return e
}

// Put writes a temp file beside rel, flushes it, sets its metadata and
// renames it over rel.
func (l *Local) Put(ctx context.Context, rel string, r io.Reader, size int64, m dest.Meta) (err error) {
	p, err := l.abs(rel)
	if err != nil {
		return err
	}
	if rel == "" {
		return fmt.Errorf("put: the root is a folder: %w", fs.ErrInvalid)
	}
	tmp := tempname.Beside(p)
	f, err := nofollow.OpenFile(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return mapErr(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = nofollow.RemoveFile(tmp)
		}
	}()
	if _, err := io.Copy(f, dest.Exact(ctx, r, size)); err != nil {
		if errors.Is(err, dest.ErrShortSource) {
			return fmt.Errorf("put %s: %w", rel, dest.ErrShortSource)
		}
		return mapErr(err)
	}
	if err := f.Sync(); err != nil {
		return mapErr(err)
	}
	if l.owners && (m.UID >= 0 || m.GID >= 0) {
		if err := f.Chown(m.UID, m.GID); err != nil {
			return mapErr(err)
		}
	}
	if err := unix.Fchmod(int(f.Fd()), dest.ModeBits(m.Mode)); err != nil { // after chown, which clears setuid
		return mapErr(&fs.PathError{Op: "chmod", Path: tmp, Err: err})
	}
	if err := f.Close(); err != nil {
		return mapErr(err)
	}
	if !m.ModTime.IsZero() {
		if err := nofollow.Chtimes(tmp, m.ModTime, m.ModTime); err != nil {
			return mapErr(err)
		}
	}
	if err := nofollow.Rename(tmp, p); err != nil {
		return mapErr(err)
	}
	return nil
}

func (l *Local) Mkdir(ctx context.Context, rel string, m dest.Meta) error {
	p, err := l.abs(rel)
	if err != nil {
		return err
	}
	err = nofollow.Mkdir(p, 0o700)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if serr := nofollow.Lstat(p, &st); serr == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return nil
		}
		return mapErr(err)
	}
	if err != nil {
		return mapErr(err)
	}
	return l.setMeta(p, false, m)
}

func (l *Local) Symlink(ctx context.Context, rel, target string, m dest.Meta) error {
	p, err := l.abs(rel)
	if err != nil {
		return err
	}
	tmp := tempname.Beside(p)
	if err := nofollow.Symlink(target, tmp); err != nil {
		return mapErr(err)
	}
	if err := l.setMeta(tmp, true, m); err != nil {
		_ = nofollow.RemoveFile(tmp)
		return err
	}
	if err := nofollow.Rename(tmp, p); err != nil {
		_ = nofollow.RemoveFile(tmp)
		return mapErr(err)
	}
	return nil
}

func (l *Local) SetMeta(ctx context.Context, rel string, m dest.Meta) error {
	p, err := l.abs(rel)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := nofollow.Lstat(p, &st); err != nil {
		return mapErr(err)
	}
	return l.setMeta(p, st.Mode&unix.S_IFMT == unix.S_IFLNK, m)
}

func (l *Local) setMeta(p string, symlink bool, m dest.Meta) error {
	if l.owners && (m.UID >= 0 || m.GID >= 0) {
		if err := nofollow.Lchown(p, m.UID, m.GID); err != nil {
			return mapErr(err)
		}
	}
	if !symlink {
		if err := nofollow.Chmod(p, dest.ModeBits(m.Mode)); err != nil {
			return mapErr(err)
		}
	}
	if !m.ModTime.IsZero() {
		if err := nofollow.Chtimes(p, m.ModTime, m.ModTime); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

func (l *Local) Remove(ctx context.Context, rel string) error {
	p, err := l.abs(rel)
	if err != nil {
		return err
	}
	if rel == "" {
		return fmt.Errorf("remove: the root is not removed: %w", fs.ErrInvalid)
	}
	return mapErr(nofollow.Remove(p))
}

// Rename renames from to to, replacing a file, symlink or empty folder
// there.
func (l *Local) Rename(ctx context.Context, from, to string) error {
	pf, err := l.abs(from)
	if err != nil {
		return err
	}
	pt, err := l.abs(to)
	if err != nil {
		return err
	}
	return mapErr(nofollow.Rename(pf, pt))
}

// mapErr adds the package's sentinels to err: full, read-only, not empty.
// Not-exist and permission errors already match fs.ErrNotExist and
// fs.ErrPermission.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		return fmt.Errorf("%w: %w", dest.ErrFull, err)
	case errors.Is(err, unix.EROFS):
		return fmt.Errorf("%w: %w", dest.ErrReadOnly, err)
	case errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST) && strings.Contains(err.Error(), "remove"):
		return fmt.Errorf("%w: %w", dest.ErrNotEmpty, err)
	}
	return err
}
