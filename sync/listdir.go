package sync

import (
	"io/fs"
)

// entry is one name in a folder with its lstat; err is set (and info nil)
// when the stat failed for another reason than the entry vanishing.
type entry struct {
	name string
	info fs.FileInfo
	err  error
}

// readDir lists a folder without sorting it (the order does not matter and
// sorting 100,000 names costs).
func readDir(dir string) ([]fs.DirEntry, error) {
	f, err := openDirPath(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}
