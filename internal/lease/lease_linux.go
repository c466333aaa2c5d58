package lease

import (
	"errors"

	"github.com/copyd/copyd/internal/nofollow"
	"golang.org/x/sys/unix"
)

// WriterHolds reports whether some process has the file path open for
// writing: the kernel refuses a read lease on such a file (EAGAIN). The
// lease is taken and given back at once; a writer that opens the file in
// between waits for microseconds. Where a lease cannot be taken (a file
// of another user while copyd is not root, NFS, FUSE, a symlink now) it
// reports false: the file settles as it would without the watcher's
// close events.
func WriterHolds(path string) bool {
	fd, err := nofollow.Open(path, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return OpenForWriting(fd)
}

// OpenForWriting reports whether some process other than the caller has
// the file open for writing, asked through fd (open read-only) the way
// WriterHolds asks.
func OpenForWriting(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK)
	if err == nil {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
		return false
	}
	return errors.Is(err, unix.EAGAIN)
}
