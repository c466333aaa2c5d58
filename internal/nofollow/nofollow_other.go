//go:build unix && !linux

package nofollow

import "golang.org/x/sys/unix"

const (
	oPath     = 0
	dirFlags  = unix.O_RDONLY | unix.O_DIRECTORY
	utimeOmit = -2 // UTIME_OMIT in the BSDs' and macOS's sys/stat.h
)

// openat2 exists only on Linux: the walk does every open here.
func openat2(string, int, uint32) (int, error, bool) { return -1, nil, false }

func chmodAt(dirfd int, name string, mode uint32) error {
	return unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
}

func renameat(olddirfd int, oldname string, newdirfd int, newname string, flags uint) error {
	if flags != 0 {
		return unix.ENOTSUP
	}
	return unix.Renameat(olddirfd, oldname, newdirfd, newname)
}
