package sync

import (
	"context"
	"errors"
	"github.com/copyd/copyd/internal/lease"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unsafe"

	"github.com/copyd/copyd/internal/nofollow"
	"golang.org/x/sys/unix"
)

// copyFile makes dst a complete copy of the regular file src: readers see
// the old dst or the new one, never a part. The source is compared before
// and after the copy; a change discards the temp and returns
// ErrSourceChanged. A vanished source returns ErrSourceGone. No temp file
// survives an error. It returns the bytes copied.
//
// This is the hot path of a copy of many small files, so it talks to the
// kernel directly: about a dozen system calls per file, where the os
// package adds fcntl and epoll registrations on every open and an lstat on
// every rename.
func copyFile(ctx context.Context, src, dst string, o writeOptions) (n int64, err error) {
	// O_NONBLOCK: a FIFO that replaced the file since the scan would
	// otherwise block the open until a writer comes; regular files ignore it.
	// A symlink at any component of src is refused (nofollow): a folder
	// swapped for one since the scan never lets copyd read outside the
	// source.
	sfd, err := nofollow.Open(src, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return 0, ErrSourceGone
	case errors.Is(err, unix.ELOOP): // it, or a folder above it, became a symlink since the scan
		return 0, ErrSourceChanged
	case err != nil:
		return 0, &fs.PathError{Op: "open", Path: src, Err: err}
	}
	defer unix.Close(sfd)
	var before unix.Stat_t
	if err := unix.Fstat(sfd, &before); err != nil {
		return 0, &fs.PathError{Op: "fstat", Path: src, Err: err}
	}
	if before.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, ErrSourceChanged
	}
	if modifiedWithin(time.Unix(before.Ctim.Unix()), o.holdWriters) && lease.OpenForWriting(sfd) {
		return 0, errWriterOpen
	}
	if modifiedWithin(time.Unix(before.Mtim.Unix()), o.busyWithin) {
		return 0, ErrSourceChanged
	}
	// A new file is written as an unnamed file in the destination folder
	// (O_TMPFILE) and linked under its name when complete: one folder
	// update instead of two (create, rename), and a crash leaves nothing
	// behind. Where that is unsupported, or a name is to be replaced, a
	// named temp file is renamed over the final name.
	//
	// The file is created with its final permission bits; they apply to
	// later opens, not to this one.
	perm := before.Mode & 0o777
	dir := filepath.Dir(dst)
	tmpPath := "" // the named temp file, if any
	dfd := -1
	if o.fresh && o.handoff == nil {
		dfd, err = nofollow.Open(dir, unix.O_WRONLY|unix.O_TMPFILE, perm)
		if err != nil {
			dfd = -1
		}
	}
	if dfd < 0 {
		tmpPath = newTemp(dst)
		dfd, err = nofollow.Open(tmpPath, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, perm)
		if err != nil {
			tempOver(tmpPath)
			return 0, &fs.PathError{Op: "create", Path: tmpPath, Err: err}
		}
	}
	work := tmpPath // names the file being written in errors
	if work == "" {
		work = dst + " (unnamed temp)"
	}
	open := true
	defer func() {
		if err != nil {
			if open {
				unix.Close(dfd)
			}
			if tmpPath != "" {
				removeTemp(tmpPath) // never leave a partial file behind
			}
		}
	}()
	sparse := before.Size >= 1<<20 && before.Blocks*512 < before.Size
	if n, err = kernelCopy(ctx, dfd, sfd, before.Size, sparse); err != nil {
		if errors.Is(err, ErrSourceChanged) || ctx.Err() != nil {
			return n, err
		}
		return n, &fs.PathError{Op: "copy data to", Path: work, Err: err}
	}
	if err = sourceUnchanged(src, &before); err != nil {
		return n, err
	}
	if o.owner && (int(before.Uid) != euid || int(before.Gid) != egid || o.setgidDir) {
		if err = unix.Fchown(dfd, int(before.Uid), int(before.Gid)); err != nil { // first: chown clears set-id bits
			return n, &fs.PathError{Op: "chown", Path: work, Err: err}
		}
	}
	// Always: the mode a new file gets is not only perm &^ umask (a default
	// ACL on the folder overrides the umask), and chown clears set-id bits.
	if err = unix.Fchmod(dfd, before.Mode&07777); err != nil {
		return n, &fs.PathError{Op: "chmod", Path: work, Err: err}
	}
	if err = futimens(dfd, before.Mtim); err != nil {
		return n, &fs.PathError{Op: "set times", Path: work, Err: err}
	}
	if o.identity != nil {
		var made unix.Stat_t
		if err = unix.Fstat(dfd, &made); err != nil {
			return n, &fs.PathError{Op: "fstat", Path: work, Err: err}
		}
		*o.identity = copyIdentity{src: sourceFromStat(&before), dst: destFromStat(&made), ok: true}
		o.identity.dst.CtimeNs = 0 // naming the file moves it: read below, or by recordCopy
	}
	if o.fsync && o.handoff == nil {
		if err = unix.Fsync(dfd); err != nil { // data on disk before a name points at it
			return n, &fs.PathError{Op: "fsync", Path: work, Err: err}
		}
	}
	if tmpPath == "" {
		err = linkUnnamed(dfd, dst)
		if err == nil && o.identity != nil {
			var named unix.Stat_t
			if unix.Fstat(dfd, &named) == nil {
				o.identity.dst.CtimeNs = named.Ctim.Nano()
			}
		}
		if errors.Is(err, unix.EEXIST) { // something took the name since the scan
			tmpPath = newTemp(dst)
			if err = linkUnnamed(dfd, tmpPath); err == nil {
				err = finishTemp(tmpPath, dst, o.replace)
			}
		}
		open = false
		if cerr := unix.Close(dfd); err == nil && cerr != nil {
			err = &fs.PathError{Op: "close", Path: dst, Err: cerr}
		}
		return n, err
	}
	open = false
	if err = unix.Close(dfd); err != nil {
		return n, &fs.PathError{Op: "close", Path: tmpPath, Err: err}
	}
	if o.handoff != nil {
		return n, o.handoff(tmpPath, n)
	}
	return n, finishTemp(tmpPath, dst, o.replace)
}

// linkUnnamed gives the unnamed (O_TMPFILE) file open as fd the name path;
// it fails with EEXIST if anything, a symlink included, has that name. As
// root it links the descriptor itself; otherwise through /proc, which
// needs no privilege.
func linkUnnamed(fd int, path string) error {
	return nofollow.At("link", path, func(dirfd int, name string) error {
		if euid == 0 {
			err := unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH)
			if err == nil || errors.Is(err, unix.EEXIST) {
				return err
			}
		}
		if err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dirfd, name, unix.AT_SYMLINK_FOLLOW); err != nil {
			return &os.LinkError{Op: "link", Old: "(unnamed temp)", New: path, Err: err}
		}
		return nil
	})
}

// The process's identity, read once: a created file's owner is euid:egid.
var (
	euid = os.Geteuid()
	egid = os.Getegid()
)

// sourceUnchanged returns ErrSourceChanged when path no longer names the
// file that was opened (replaced by a rename) or that file changed since
// before (written, truncated, touched), and ErrSourceGone when path
// vanished. One lstat covers both: for the same inode it shows the
// current size and mtime.
func sourceUnchanged(path string, before *unix.Stat_t) error {
	var now unix.Stat_t
	if err := nofollow.Lstat(path, &now); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return ErrSourceGone
		}
		return err
	}
	// ctime too: a write that put the mtime back (tar, cp -p) still moves it.
	if now.Dev != before.Dev || now.Ino != before.Ino || now.Size != before.Size || now.Mtim != before.Mtim || now.Ctim != before.Ctim {
		return ErrSourceChanged
	}
	return nil
}

// futimens sets the modification time of an open file and leaves its
// access time alone (utimensat with a NULL path, which x/sys does not wrap).
func futimens(fd int, mtime unix.Timespec) error {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, mtime}
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// kernelCopy copies size bytes from sfd to dfd inside the kernel, in chunks
// so that ctx is noticed: copy_file_range, or sendfile where that is refused
// (across filesystems since Linux 5.19). A sparse source is copied extent by
// extent (SEEK_DATA/SEEK_HOLE) so its holes stay holes. A source that ends
// early reports ErrSourceChanged.
func kernelCopy(ctx context.Context, dfd, sfd int, size int64, sparse bool) (int64, error) {
	if !sparse {
		return copyExtent(ctx, dfd, sfd, size)
	}
	var off int64
	for off < size {
		data, err := unix.Seek(sfd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) { // only a hole is left
			break
		}
		if err != nil {
			return off, err
		}
		hole, err := unix.Seek(sfd, data, unix.SEEK_HOLE)
		if err != nil {
			return off, err
		}
		hole = min(hole, size)
		if _, err := unix.Seek(sfd, data, 0); err != nil {
			return off, err
		}
		if _, err := unix.Seek(dfd, data, 0); err != nil {
			return off, err
		}
		if _, err := copyExtent(ctx, dfd, sfd, hole-data); err != nil {
			return off, err
		}
		off = hole
	}
	if err := unix.Ftruncate(dfd, size); err != nil { // a trailing hole
		return off, err
	}
	return size, nil
}

// copyExtent copies n bytes from sfd's offset to dfd's offset.
func copyExtent(ctx context.Context, dfd, sfd int, n int64) (int64, error) {
	var done int64
	useSendfile := false
	for done < n {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		want := int(min(chunk, n-done))
		var w int
		var err error
		if !useSendfile {
			w, err = unix.CopyFileRange(sfd, nil, dfd, nil, want, 0)
			if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
				useSendfile = true
				continue
			}
		} else {
			w, err = unix.Sendfile(dfd, sfd, nil, want)
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return done, err
		}
		if w == 0 {
			return done, ErrSourceChanged // the file ended early: truncated meanwhile
		}
		done += int64(w)
	}
	return done, nil
}
