//go:build !linux

package watcher

import "os"

// subfolders returns the names of the folders in dir (not symlinks to
// folders), unsorted.
func subfolders(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	list, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range list {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
