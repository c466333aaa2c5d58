//go:build !linux

package sync

import (
	"io/fs"

	"github.com/copyd/copyd/index"
)

// listDir lists a folder with an lstat of every entry; entries that vanish
// meanwhile are left out.
func listDir(dir string) ([]entry, error) {
	list, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]entry, 0, len(list))
	for _, e := range list {
		fi, err := e.Info()
		switch {
		case errIsNotExist(err):
			continue
		case err != nil:
			out = append(out, entry{name: e.Name(), err: err})
		default:
			out = append(out, entry{name: e.Name(), info: fi})
		}
	}
	return out, nil
}

// listRecorded lists a destination folder; elsewhere than on Linux no
// records are made, so it is never asked (see listdir_linux.go).
func listRecorded(dir string, _ map[string]index.Record) ([]entry, error) { return listDir(dir) }

// compactFolder returns fi: elsewhere than on Linux folders keep the os
// package's stat (see listdir_linux.go).
func compactFolder(fi fs.FileInfo) fs.FileInfo { return fi }
