//go:build unix

package sync

import (
	"io/fs"
	"os"
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
func rename(oldpath, newpath string) error {
	if err := unix.Rename(oldpath, newpath); err != nil {
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
