//go:build unix

package sync

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// openSource opens a regular file for reading without following a symlink
// that may have replaced it since the scan.
func openSource(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0) // O_NONBLOCK: see copyFile
}

// createExclusive creates path for writing; it fails if anything, a symlink
// included, already has that name.
func createExclusive(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
}

// owner returns fi's owner and group; ok is false where there are none.
func owner(fi fs.FileInfo) (uid, gid int, ok bool) {
	if o, ok := fi.(interface{ owner() (uid, gid uint32) }); ok { // folderInfo: no raw stat to build
		u, g := o.owner()
		return int(u), int(g), true
	}
	switch st := fi.Sys().(type) {
	case *syscall.Stat_t: // from the os package
		return int(st.Uid), int(st.Gid), true
	case *unix.Stat_t: // from listDir
		return int(st.Uid), int(st.Gid), true
	}
	return 0, 0, false
}

// sameOwner reports whether a and b have the same owner and group.
func sameOwner(a, b fs.FileInfo) bool {
	ua, ga, oka := owner(a)
	ub, gb, okb := owner(b)
	return oka == okb && ua == ub && ga == gb
}

// canChown reports whether this process may give files away (root).
func canChown() bool { return os.Geteuid() == 0 }

// lchown sets the owner of path itself, not of a symlink's target.
func lchown(path string, uid, gid int) error { return os.Lchown(path, uid, gid) }

// setLinkTime sets a symlink's own modification time.
func setLinkTime(path string, mtime time.Time) error {
	t := unix.NsecToTimespec(mtime.UnixNano())
	ts := []unix.Timespec{t, t} // atime too: UTIME_OMIT is not portable
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "lutimes", Path: path, Err: err}
	}
	return nil
}

// rename renames old to new, replacing a file or symlink at new. Unlike
// os.Rename it does not lstat new first (a system call per file).
//
// A temp file beside a name close to PATH_MAX has a path longer than the
// kernel takes whole; both names are then given relative to their folder.
func rename(oldpath, newpath string) error {
	err := unix.Rename(oldpath, newpath)
	if errors.Is(err, unix.ENAMETOOLONG) && filepath.Dir(oldpath) == filepath.Dir(newpath) {
		err = inDir(oldpath, func(dirfd int, name string) error {
			return unix.Renameat(dirfd, name, dirfd, filepath.Base(newpath))
		})
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// syncDir makes the entries of dir (creations, renames) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// fileID identifies a file: its device and inode.
type fileID struct{ dev, ino uint64 }

// hardLinked returns fi's identity and whether it is a regular file with
// more than one name.
func hardLinked(fi fs.FileInfo) (fileID, bool) {
	if !fi.Mode().IsRegular() {
		return fileID{}, false
	}
	switch st := fi.Sys().(type) {
	case *syscall.Stat_t: // from the os package
		return fileID{uint64(st.Dev), uint64(st.Ino)}, st.Nlink > 1
	case *unix.Stat_t: // from listDir
		return fileID{uint64(st.Dev), uint64(st.Ino)}, st.Nlink > 1
	}
	return fileID{}, false
}

// removeFile removes the file path; a path longer than PATH_MAX is removed
// relative to its folder.
func removeFile(path string) error {
	err := unix.Unlink(path)
	if errors.Is(err, unix.ENAMETOOLONG) {
		err = inDir(path, func(dirfd int, name string) error { return unix.Unlinkat(dirfd, name, 0) })
	}
	if err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	return nil
}

// openFile is open(2) with a fallback for a path longer than PATH_MAX
// whose folder's path fits: the name is opened relative to the folder.
func openFile(path string, flags int, perm uint32) (int, error) {
	fd, err := unix.Open(path, flags, perm)
	if errors.Is(err, unix.ENAMETOOLONG) {
		err = inDir(path, func(dirfd int, name string) (err error) {
			fd, err = unix.Openat(dirfd, name, flags, perm)
			return err
		})
	}
	return fd, err
}

// inDir runs op on path's folder, opened, and path's last element.
func inDir(path string, op func(dirfd int, name string) error) error {
	dirfd, err := unix.Open(filepath.Dir(path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	return op(dirfd, filepath.Base(path))
}
