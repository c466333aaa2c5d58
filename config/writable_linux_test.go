package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUnwritableDestination needs a folder the test cannot write. Root
// writes through permission bits, so as root the folder is a read-only
// tmpfs mount (which also covers destinations on read-only disks); as any
// other user it is a folder with mode 0555.
func TestUnwritableDestination(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	mkTree(t, root, "src/", "ro/")
	ro := filepath.Join(root, "ro")
	reason := "permission denied"
	if os.Geteuid() == 0 {
		if err := unix.Mount("tmpfs", ro, "tmpfs", unix.MS_RDONLY, "size=1m"); err != nil {
			t.Skipf("root cannot mount a read-only tmpfs here (%v), and permission bits do not stop root", err)
		}
		t.Cleanup(func() {
			if err := unix.Unmount(ro, 0); err != nil {
				t.Errorf("unmount %s: %v", ro, err)
			}
		})
		reason = "read-only file system"
	} else {
		if err := os.Chmod(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(ro, 0o755) })
	}

	tests := []struct {
		name, dst, want string
	}{
		{"existing folder", "ro",
			"config.yaml:3: pairs[0].destination: $T/ro cannot be written (" + reason + "); make it writable for the user copyd runs as, or choose another folder"},
		{"folder to create", "ro/backup/videos",
			"config.yaml:3: pairs[0].destination: $T/ro/backup/videos does not exist and cannot be created in $T/ro (" + reason + "); create it, or make $T/ro writable for the user copyd runs as"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := expand("pairs:\n  - source: $T/src\n    destination: $T/"+tt.dst+"\n", root)
			_, err := Parse("config.yaml", []byte(yaml))
			if want := expand(tt.want, root); err == nil || err.Error() != want {
				t.Errorf("Parse() error = %v, want %s", err, want)
			}
			if !errors.Is(err, ErrDestUnwritable) {
				t.Errorf("Parse() error = %v, want errors.Is %v", err, ErrDestUnwritable)
			}
		})
	}
}
