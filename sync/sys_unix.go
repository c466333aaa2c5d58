//go:build unix

package sync

import (
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/copyd/copyd/internal/nofollow"
	"golang.org/x/sys/unix"
)

// openSource opens a regular file for reading without following a symlink
// that may have replaced it since the scan.
func openSource(path string) (*os.File, error) {
	return nofollow.OpenFile(path, unix.O_RDONLY|unix.O_NONBLOCK, 0) // O_NONBLOCK: see copyFile
}

// createExclusive creates path for writing; it fails if anything, a symlink
// included, already has that name.
func createExclusive(path string) (*os.File, error) {
	return nofollow.OpenFile(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
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
func lchown(path string, uid, gid int) error { return nofollow.Lchown(path, uid, gid) }

// linkTimes says setLinkTime sets a symlink's own time here.
const linkTimes = true

// setLinkTime sets a symlink's own modification time.
func setLinkTime(path string, mtime time.Time) error {
	return nofollow.Chtimes(path, mtime, mtime) // atime too, as rsync does
}

// rename renames old to new, replacing a file or symlink at new. Unlike
// os.Rename it does not lstat new first (a system call per file).
func rename(oldpath, newpath string) error { return nofollow.Rename(oldpath, newpath) }

// syncDir makes the entries of dir (creations, renames) durable.
func syncDir(dir string) error {
	d, err := openDirPath(dir)
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

// linkCount returns the number of names of the file fi (1 where unknown).
func linkCount(fi fs.FileInfo) uint64 {
	switch st := fi.Sys().(type) {
	case *syscall.Stat_t:
		return uint64(st.Nlink)
	case *unix.Stat_t:
		return uint64(st.Nlink)
	}
	return 1
}

// removeFile removes the file or symlink path (not a folder).
func removeFile(path string) error { return nofollow.RemoveFile(path) }

// sameFile is os.SameFile for the stats of both the os package and
// listDir/lstatPath (*unix.Stat_t), which os.SameFile does not know.
func sameFile(a, b fs.FileInfo) bool {
	x, ok1 := statID(a)
	y, ok2 := statID(b)
	if ok1 && ok2 {
		return x == y
	}
	return os.SameFile(a, b)
}

// statID returns fi's device and inode, when fi carries a raw stat.
func statID(fi fs.FileInfo) (fileID, bool) {
	switch st := fi.Sys().(type) {
	case *syscall.Stat_t:
		return fileID{uint64(st.Dev), uint64(st.Ino)}, true
	case *unix.Stat_t:
		return fileID{uint64(st.Dev), uint64(st.Ino)}, true
	}
	return fileID{}, false
}
