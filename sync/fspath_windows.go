package sync

import (
	"io/fs"
	"os"
	"time"
)

// On Windows the *Path functions are the os package's: reparse points in
// a path are followed (see docs/operations.md).

func lstatPath(path string) (fs.FileInfo, error)            { return os.Lstat(path) }
func chmodPath(path string, mode fs.FileMode) error         { return os.Chmod(path, mode) }
func chtimesPath(path string, atime, mtime time.Time) error { return os.Chtimes(path, atime, mtime) }
func readlinkPath(path string) (string, error)              { return os.Readlink(path) }
func mkdirPath(path string, perm fs.FileMode) error         { return os.Mkdir(path, perm) }
func mkdirAllPath(path string, perm fs.FileMode) error      { return os.MkdirAll(path, perm) }
func removePath(path string) error                          { return os.Remove(path) }
func removeAllPath(path string) error                       { return os.RemoveAll(path) }
func symlinkPath(target, path string) error                 { return os.Symlink(target, path) }
func renamePath(oldpath, newpath string) error              { return os.Rename(oldpath, newpath) }
func openDirPath(path string) (*os.File, error)             { return os.Open(path) }

// folderHandle sets a folder's metadata by path on Windows.
type folderHandle struct{ path string }

func openFolder(path string) (folderHandle, error)   { return folderHandle{path}, nil }
func (h folderHandle) chmod(mode fs.FileMode) error  { return os.Chmod(h.path, mode) }
func (h folderHandle) chown(uid, gid int) error      { return nil }
func (h folderHandle) chtimes(mtime time.Time) error { return os.Chtimes(h.path, time.Time{}, mtime) }
func (h folderHandle) close() error                  { return nil }
