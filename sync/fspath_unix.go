//go:build unix

package sync

import (
	"errors"
	"github.com/copyd/copyd/dest"
	"io/fs"
	"os"
	"time"

	"github.com/copyd/copyd/internal/nofollow"
	"golang.org/x/sys/unix"
)

// The *Path functions are the engine's file system operations by path, on
// either side of a pair. None follows a symbolic link at any component of
// the path (see internal/nofollow): a folder swapped for a symlink since
// it was listed makes them fail with ELOOP, so nothing outside a pair's
// roots is ever read or changed. The pair's roots are resolved when the
// config is loaded, so the roots themselves hold no symlink.

func chmodPath(path string, mode fs.FileMode) error {
	return nofollow.Chmod(path, dest.ModeBits(mode))
}

func chtimesPath(path string, atime, mtime time.Time) error {
	return nofollow.Chtimes(path, atime, mtime)
}

func readlinkPath(path string) (string, error) { return nofollow.Readlink(path) }

func mkdirPath(path string, perm fs.FileMode) error {
	return nofollow.Mkdir(path, dest.ModeBits(perm))
}

func mkdirAllPath(path string, perm fs.FileMode) error {
	return nofollow.MkdirAll(path, dest.ModeBits(perm))
}

func removePath(path string) error    { return nofollow.Remove(path) }
func removeAllPath(path string) error { return nofollow.RemoveAll(path) }

func symlinkPath(target, path string) error { return nofollow.Symlink(target, path) }

func renamePath(oldpath, newpath string) error { return nofollow.Rename(oldpath, newpath) }

// openDirPath opens the folder path for reading its entries.
func openDirPath(path string) (*os.File, error) {
	f, err := nofollow.OpenFile(path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		pe.Err = loopErr(pe.Err)
		if errors.Is(pe.Err, unix.ENOTDIR) {
			// O_NOFOLLOW|O_DIRECTORY on a symlink: ENOTDIR, not ELOOP.
			var st unix.Stat_t
			if nofollow.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				pe.Err = errFolderIsSymlink{}
			}
		}
	}
	return f, err
}

// errFolderIsSymlink is ELOOP from opening a folder without following
// symlinks, in the words the README uses: the folder, or one above it, is
// a symlink now (swapped in since it was listed).
type errFolderIsSymlink struct{}

func (errFolderIsSymlink) Error() string        { return "a folder on the path is a symbolic link" }
func (errFolderIsSymlink) Is(target error) bool { return target == unix.ELOOP }

// loopErr turns ELOOP into errFolderIsSymlink; other errors pass.
func loopErr(err error) error {
	if errors.Is(err, unix.ELOOP) {
		return errFolderIsSymlink{}
	}
	return err
}

// folderHandle is a destination folder opened to set its metadata through
// the open folder itself (fchmod, fchown, futimens): a folder replaced by
// a symlink or a file since it was listed is not opened, so neither it
// nor what a symlink points to gets a folder's mode or times.
type folderHandle struct {
	f    *os.File
	path string
}

// openFolder opens the folder path for setting its metadata.
func openFolder(path string) (folderHandle, error) {
	f, err := nofollow.OpenFile(path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	return folderHandle{f, path}, err
}

func (h folderHandle) chmod(mode fs.FileMode) error  { return h.f.Chmod(mode) }
func (h folderHandle) chown(uid, gid int) error      { return h.f.Chown(uid, gid) }
func (h folderHandle) chtimes(mtime time.Time) error { return setFolderTime(h, mtime) }
func (h folderHandle) close() error                  { return h.f.Close() }
