//go:build linux

package remote

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/copyd/copyd/index"
	"github.com/copyd/copyd/internal/nofollow"
	"golang.org/x/sys/unix"
)

// srcEntry is one entry of a source folder with its lstat.
type srcEntry struct {
	name string
	st   unix.Stat_t
	err  error // the lstat failed (not because the entry vanished)
}

func (e *srcEntry) isDir() bool     { return e.st.Mode&unix.S_IFMT == unix.S_IFDIR }
func (e *srcEntry) isFile() bool    { return e.st.Mode&unix.S_IFMT == unix.S_IFREG }
func (e *srcEntry) isSymlink() bool { return e.st.Mode&unix.S_IFMT == unix.S_IFLNK }

// listSource lists the source folder dir with an lstat of every entry,
// taken relative to the open folder. The folder is opened without
// following a symlink at any component: a folder swapped for a symlink is
// not read through. Entries that vanish meanwhile are left out.
func listSource(dir string) ([]srcEntry, error) {
	f, err := nofollow.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	out := make([]srcEntry, 0, len(names))
	for _, name := range names {
		e := srcEntry{name: name}
		err := unix.Fstatat(fd, name, &e.st, unix.AT_SYMLINK_NOFOLLOW)
		for errors.Is(err, unix.EINTR) {
			err = unix.Fstatat(fd, name, &e.st, unix.AT_SYMLINK_NOFOLLOW)
		}
		switch {
		case errors.Is(err, unix.ENOENT):
			continue
		case err != nil:
			e.err = &fs.PathError{Op: "lstat", Path: filepath.Join(dir, name), Err: err}
		}
		out = append(out, e)
	}
	return out, nil
}

// lstatSource is an lstat of path that follows no symlink on the way.
func lstatSource(path string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := nofollow.Lstat(path, &st)
	return st, err
}

// openSource opens the file path for reading without following a
// symlink at any component, and returns it with its fstat.
func openSource(path string) (*os.File, unix.Stat_t, error) {
	var st unix.Stat_t
	f, err := nofollow.OpenFile(path, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, st, err
	}
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, st, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	return f, st, nil
}

// fstat returns f's stat now.
func fstat(f *os.File) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstat(int(f.Fd()), &st)
	return st, err
}

// readlinkSource reads the target of the symlink path (its folders are
// not followed).
func readlinkSource(path string) (string, error) { return nofollow.Readlink(path) }

// identity is what the index records of a source entry.
func identity(st *unix.Stat_t, target string) index.Source {
	return index.Source{Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size, MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano(),
		Mode: uint32(st.Mode), UID: st.Uid, GID: st.Gid, Target: target}
}

// sameContent reports whether two stats of one open file say its content
// did not change in between: same size, mtime and ctime (ctime moves on
// every write).
func sameContent(a, b *unix.Stat_t) bool {
	return a.Ino == b.Ino && a.Size == b.Size && a.Mtim == b.Mtim && a.Ctim == b.Ctim
}

func mtimeOf(st *unix.Stat_t) time.Time { return time.Unix(st.Mtim.Unix()) }

func ctimeOf(st *unix.Stat_t) time.Time { return time.Unix(st.Ctim.Unix()) }
