package sync

import (
	"io/fs"
	"os"
	"time"
)

func openSource(path string) (*os.File, error) { return os.Open(path) }

func createExclusive(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

func owner(fs.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }
func sameOwner(a, b fs.FileInfo) bool           { return true }
func canChown() bool                            { return false }
func lchown(string, int, int) error             { return nil }
func setLinkTime(string, time.Time) error       { return nil }
func rename(oldpath, newpath string) error      { return os.Rename(oldpath, newpath) }
func syncDir(string) error                      { return nil } // Windows cannot fsync a directory handle

// linkTimes: setLinkTime does nothing here, so a symlink's own time is
// not compared either.
const linkTimes = false

// fileID identifies a file; hard links are not followed on Windows.
type fileID struct{}

func hardLinked(fs.FileInfo) (fileID, bool) { return fileID{}, false }

// linkCount returns the number of names of the file fi: 1 here, where
// hard links are not followed.
func linkCount(fs.FileInfo) uint64 { return 1 }

func removeFile(path string) error { return os.Remove(path) }

func sameFile(a, b fs.FileInfo) bool { return os.SameFile(a, b) }
