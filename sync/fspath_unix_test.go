//go:build unix

package sync

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestListDirOfASymlinkedFolder: a folder swapped for a symlink between
// its listing and its scan fails to list with the README's words (not the
// kernel's "too many levels of symbolic links"), still as ELOOP and not as
// "gone": the scan counts it as a read failure, which holds deletions.
func TestListDirOfASymlinkedFolder(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	victim := filepath.Join(base, "victim")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, link, list string }{
		{"the folder itself", filepath.Join(base, "D"), filepath.Join(base, "D")},
		{"a folder above it", filepath.Join(base, "E"), filepath.Join(base, "E", "in")},
	} {
		if err := os.Symlink(victim, tt.link); err != nil {
			t.Fatal(err)
		}
		if tt.list != tt.link {
			if err := os.Mkdir(filepath.Join(victim, "in"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		_, err := listDir(tt.list)
		switch {
		case err == nil:
			t.Errorf("%s: listDir through a symlink succeeded", tt.name)
		case !strings.Contains(err.Error(), "a folder on the path is a symbolic link"):
			t.Errorf("%s: listDir error = %v, want the README's words", tt.name, err)
		case !errors.Is(err, unix.ELOOP) || errors.Is(err, fs.ErrNotExist):
			t.Errorf("%s: listDir error %v: want ELOOP, not not-exist", tt.name, err)
		}
	}
}
