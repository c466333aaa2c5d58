//go:build unix && !linux

package sync

import (
	"io/fs"
	"os"
	"time"

	"github.com/copyd/copyd/internal/nofollow"
)

// lstatPath is os.Lstat here: the opens and changes that follow a stat go
// through internal/nofollow, so a folder swapped for a symlink between
// the two costs a refused open, never a read outside the root.
func lstatPath(path string) (fs.FileInfo, error) { return os.Lstat(path) }

// setFolderTime sets the folder's mtime by path (no portable futimens
// with nanoseconds here); nofollow refuses a symlink on the way to it, and
// the folder itself was just opened as a folder.
func setFolderTime(h folderHandle, mtime time.Time) error {
	return nofollow.Chtimes(h.path, time.Time{}, mtime)
}
