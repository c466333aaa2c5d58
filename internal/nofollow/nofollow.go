//go:build unix

package nofollow

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrSymlinkInPath is the error of an operation on a path one of whose
// folders is a symbolic link: the path names nothing in the tree, so it
// is also [fs.ErrNotExist] (and ELOOP, what the kernel said).
var ErrSymlinkInPath error = symlinkInPath{}

type symlinkInPath struct{}

func (symlinkInPath) Error() string { return "a folder on the path is a symbolic link" }

func (symlinkInPath) Is(target error) bool { return target == fs.ErrNotExist || target == unix.ELOOP }

// Open opens path like open(2) with flags and perm; O_NOFOLLOW and
// O_CLOEXEC are added (but O_NOFOLLOW with O_PATH, where it would open a
// symlink itself). A symlink at any component fails with ELOOP. The error
// is the bare errno, for callers that branch on it.
func Open(path string, flags int, perm uint32) (int, error) {
	flags |= unix.O_CLOEXEC
	if oPath == 0 || flags&oPath == 0 {
		flags |= unix.O_NOFOLLOW
	}
	if len(path) > maxPath {
		return openLong(path, flags|unix.O_NOFOLLOW, perm)
	}
	if fd, err, done := openat2(path, flags, perm); done {
		return fd, err
	}
	return walkOpen(path, flags|unix.O_NOFOLLOW, perm)
}

// maxPath is the longest path the kernel takes whole (PATH_MAX less the
// NUL byte on Linux; the BSDs' is shorter, and they say so themselves).
const maxPath = 4095

// openLong opens a path longer than the kernel takes whole, relative to
// its folder, when the folder's path fits: a temp file beside a name close
// to PATH_MAX is one. Deeper paths fail with ENAMETOOLONG, as every other
// system call on them does: copyd's reach ends where the kernel's does.
func openLong(path string, flags int, perm uint32) (int, error) {
	dir, name := filepath.Split(path)
	if len(dir) > maxPath || name == "" || flags&unix.O_DIRECTORY != 0 {
		return -1, unix.ENAMETOOLONG
	}
	dfd, err := OpenDir(filepath.Clean(dir))
	if err != nil {
		return -1, err
	}
	defer unix.Close(dfd)
	fd, err := openatRetry(dfd, name, flags, perm)
	if err != nil {
		err = symlinkErr(dfd, name, err)
	}
	return fd, err
}

// OpenFile is [Open] returning an *os.File and an *fs.PathError.
func OpenFile(path string, flags int, perm uint32) (*os.File, error) {
	fd, err := Open(path, flags, perm)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// OpenDir opens the folder path for use as the dirfd of *at calls (O_PATH
// on Linux: no read permission needed).
func OpenDir(path string) (int, error) {
	return Open(path, dirFlags, 0)
}

// At runs op with path's folder, opened by [OpenDir], and its last
// element. An error opening the folder is returned as an *fs.PathError
// naming opName and path; op's own error is returned as it is.
//
// A path longer than PATH_MAX fails with ENAMETOOLONG, as the plain system
// call would.
func At(opName, path string, op func(dirfd int, name string) error) error {
	if len(path) > maxPath {
		return &fs.PathError{Op: opName, Path: path, Err: unix.ENAMETOOLONG}
	}
	return at(opName, path, op)
}

// at is [At] for a path of any length whose folder's path fits: what a
// temp file beside a name close to PATH_MAX needs (create, rename,
// remove).
func at(opName, path string, op func(dirfd int, name string) error) error {
	dir, name := filepath.Split(path)
	if name == "" || name == "." || name == ".." {
		return &fs.PathError{Op: opName, Path: path, Err: unix.EINVAL}
	}
	dfd, err := OpenDir(filepath.Clean(dir))
	if errors.Is(err, unix.ELOOP) {
		err = ErrSymlinkInPath
	}
	if err != nil {
		return &fs.PathError{Op: opName, Path: path, Err: err}
	}
	defer unix.Close(dfd)
	return op(dfd, name)
}

// Lstat is lstat(2) of path.
func Lstat(path string, st *unix.Stat_t) error {
	return At("lstat", path, func(dirfd int, name string) error {
		return pathErr("lstat", path, retry(func() error { return unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW) }))
	})
}

// Mkdir makes the folder path with perm (less the umask).
func Mkdir(path string, perm uint32) error {
	return At("mkdir", path, func(dirfd int, name string) error {
		return pathErr("mkdir", path, unix.Mkdirat(dirfd, name, perm))
	})
}

// MkdirAll makes path and any missing parents, like os.MkdirAll; an
// existing folder is not an error, a symlink to one is (ELOOP).
func MkdirAll(path string, perm uint32) error {
	var st unix.Stat_t
	err := Lstat(path, &st)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return nil
	case err == nil:
		return &fs.PathError{Op: "mkdir", Path: path, Err: unix.ENOTDIR}
	case !errors.Is(err, unix.ENOENT):
		return err
	}
	if parent := filepath.Dir(path); parent != path {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := Mkdir(path, perm); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// Remove removes the file, symlink or empty folder path.
func Remove(path string) error {
	return At("remove", path, func(dirfd int, name string) error {
		err := unix.Unlinkat(dirfd, name, 0)
		if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EPERM) {
			if derr := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); derr == nil || !errors.Is(derr, unix.ENOTDIR) {
				err = derr
			}
		}
		return pathErr("remove", path, err)
	})
}

// RemoveFile removes the file or symlink path (not a folder).
func RemoveFile(path string) error {
	return at("remove", path, func(dirfd int, name string) error {
		return pathErr("remove", path, unix.Unlinkat(dirfd, name, 0))
	})
}

// RemoveAll removes path and everything below it, like os.RemoveAll;
// a path that does not exist is not an error. Below path nothing is
// followed either: a symlink is removed, not what it points to.
func RemoveAll(path string) error {
	err := At("remove", path, func(dirfd int, name string) error { return removeAllAt(dirfd, name) })
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			err = &fs.PathError{Op: "remove", Path: path, Err: err}
		}
	}
	return err
}

// removeAllAt removes name in the folder dirfd and all below it.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	for {
		fd, oerr := openatRetry(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		switch {
		case errors.Is(oerr, unix.ENOENT):
			// Removed meanwhile (copyd deletes a folder and, in another
			// job, one inside it): gone is what was asked. Returning
			// ENOENT would tell RemoveAll that the top is gone.
			return nil
		case errors.Is(oerr, unix.ENOTDIR) || errors.Is(oerr, unix.ELOOP):
			return err // not a folder after all: the unlink's error stands
		case oerr != nil:
			return oerr
		}
		d := os.NewFile(uintptr(fd), name)
		names, rerr := d.Readdirnames(1024)
		var first error
		for _, n := range names {
			if err := removeAllAt(fd, n); err != nil && first == nil {
				first = err
			}
		}
		d.Close()
		if first != nil {
			return first
		}
		if len(names) == 0 || rerr != nil {
			break // empty, or cannot be read further: the rmdir says which
		}
	}
	err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// Rename renames oldpath to newpath (renameat; replaces a file or empty
// folder at newpath).
func Rename(oldpath, newpath string) error {
	return RenameFlags(oldpath, newpath, 0)
}

// RenameFlags is renameat2 with flags (RENAME_NOREPLACE, RENAME_EXCHANGE)
// where the system has it; flags 0 is renameat.
func RenameFlags(oldpath, newpath string, flags uint) error {
	linkErr := func(err error) error {
		if err == nil {
			return nil
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	odir, _ := filepath.Split(oldpath)
	ndir, nname := filepath.Split(newpath)
	return linkErr(at("rename", oldpath, func(ofd int, oname string) error {
		if filepath.Clean(odir) == filepath.Clean(ndir) {
			return renameat(ofd, oname, ofd, nname, flags)
		}
		if len(oldpath) > maxPath {
			return unix.ENAMETOOLONG
		}
		return At("rename", newpath, func(nfd int, nname string) error {
			return renameat(ofd, oname, nfd, nname, flags)
		})
	}))
}

// Symlink makes path a symlink to target.
func Symlink(target, path string) error {
	return At("symlink", path, func(dirfd int, name string) error {
		if err := unix.Symlinkat(target, dirfd, name); err != nil {
			return &os.LinkError{Op: "symlink", Old: target, New: path, Err: err}
		}
		return nil
	})
}

// Readlink returns the target of the symlink path.
func Readlink(path string) (string, error) {
	var target string
	err := At("readlink", path, func(dirfd int, name string) error {
		for n := 256; ; n *= 2 {
			b := make([]byte, n)
			m, err := unix.Readlinkat(dirfd, name, b)
			if err != nil {
				return pathErr("readlink", path, err)
			}
			if m < n {
				target = string(b[:m])
				return nil
			}
		}
	})
	return target, err
}

// Chmod sets the mode of path itself; a symlink there is refused
// (EOPNOTSUPP or ELOOP) rather than followed.
func Chmod(path string, mode uint32) error {
	return At("chmod", path, func(dirfd int, name string) error {
		return pathErr("chmod", path, chmodAt(dirfd, name, mode))
	})
}

// Lchown sets the owner and group of path itself.
func Lchown(path string, uid, gid int) error {
	return At("lchown", path, func(dirfd int, name string) error {
		return pathErr("lchown", path, unix.Fchownat(dirfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW))
	})
}

// Chtimes sets the access and modification times of path itself (of a
// symlink, not its target); a zero time is left as it is.
func Chtimes(path string, atime, mtime time.Time) error {
	ts := make([]unix.Timespec, 2)
	var err error
	if ts[0], err = timespec(atime); err == nil {
		ts[1], err = timespec(mtime)
	}
	if err != nil {
		return pathErr("chtimes", path, err)
	}
	return At("chtimes", path, func(dirfd int, name string) error {
		return pathErr("chtimes", path, unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW))
	})
}

// timespec is t in seconds and nanoseconds, which hold any time a file
// system keeps: t.UnixNano does not past 2262-04-11 (touch -d 2300-01-01
// makes one). ERANGE: t does not fit a 32-bit time_t.
func timespec(t time.Time) (unix.Timespec, error) {
	if t.IsZero() {
		return unix.Timespec{Sec: 0, Nsec: utimeOmit}, nil
	}
	return unix.TimeToTimespec(t)
}

// walkOpen opens path one component at a time, none followed.
func walkOpen(path string, flags int, perm uint32) (int, error) {
	dir, name := filepath.Split(path)
	dfd, err := walkDir(dir)
	if err != nil {
		return -1, err
	}
	defer unix.Close(dfd)
	if name == "" {
		name = "."
	}
	fd, err := openatRetry(dfd, name, flags, perm)
	if err != nil {
		err = symlinkErr(dfd, name, err)
	}
	return fd, err
}

// walkDir opens the folder dir ("" is the working folder), every
// component with O_NOFOLLOW|O_DIRECTORY.
func walkDir(dir string) (int, error) {
	if len(filepath.Clean(dir)) > maxPath {
		return -1, unix.ENAMETOOLONG
	}
	start, rest := ".", dir
	if strings.HasPrefix(dir, "/") {
		start, rest = "/", dir[1:]
	}
	fd, err := openatRetry(unix.AT_FDCWD, start, dirFlags|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for rest != "" {
		var comp string
		comp, rest, _ = strings.Cut(rest, "/")
		if comp == "" || comp == "." {
			continue
		}
		next, err := openatRetry(fd, comp, dirFlags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			err = symlinkErr(fd, comp, err)
		}
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// symlinkErr turns the ENOTDIR that opening a symlink with
// O_PATH|O_NOFOLLOW|O_DIRECTORY gives into ELOOP, which is what every
// other way of refusing a symlink here gives.
func symlinkErr(dirfd int, name string, err error) error {
	if !errors.Is(err, unix.ENOTDIR) {
		return err
	}
	var st unix.Stat_t
	if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.ELOOP
	}
	return err
}

func openatRetry(dirfd int, name string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, perm)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

func retry(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func pathErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}
