package nofollow

import (
	"errors"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const (
	oPath     = unix.O_PATH
	dirFlags  = unix.O_PATH | unix.O_DIRECTORY
	utimeOmit = unix.UTIME_OMIT
)

// noOpenat2 is set once openat2 proved missing (Linux before 5.6, or a
// sandbox's seccomp filter that answers ENOSYS).
var noOpenat2 atomic.Bool

// openat2 opens path with RESOLVE_NO_SYMLINKS; done is false when the walk
// must do it instead (no openat2, or EPERM, which some sandboxes answer for
// system calls they do not know).
func openat2(path string, flags int, perm uint32) (fd int, err error, done bool) {
	if noOpenat2.Load() {
		return -1, nil, false
	}
	how := unix.OpenHow{
		Flags:   uint64(flags),
		Mode:    uint64(perm),
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err = unix.Openat2(unix.AT_FDCWD, path, &how)
		switch {
		case err == nil:
			return fd, nil, true
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.E2BIG):
			noOpenat2.Store(true)
			return -1, nil, false
		case errors.Is(err, unix.EPERM):
			return -1, nil, false
		}
		return -1, err, true
	}
}

// chmodAt sets the mode of name in dirfd without following a symlink:
// fchmodat2 (Linux 6.6); before it, an lstat first (a symlink is refused;
// what replaces the entry between the two calls is the one window left,
// and only on those kernels).
func chmodAt(dirfd int, name string, mode uint32) error {
	err := unix.Fchmodat(dirfd, name, mode, unix.AT_SYMLINK_NOFOLLOW)
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.ELOOP
	}
	return unix.Fchmodat(dirfd, name, mode, 0)
}

func renameat(olddirfd int, oldname string, newdirfd int, newname string, flags uint) error {
	if flags == 0 {
		return unix.Renameat(olddirfd, oldname, newdirfd, newname)
	}
	return unix.Renameat2(olddirfd, oldname, newdirfd, newname, flags)
}
