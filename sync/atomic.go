package sync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// writeOptions say how a file reaches its final name.
type writeOptions struct {
	fsync bool // fsync the data before the rename
	owner bool // give the copy the source's owner and group (root only)
	// setgidDir says the destination folder passes its group to new files,
	// so the group must be set even when the source's matches ours.
	setgidDir bool
	// fresh says the destination had nothing under the final name when it
	// was scanned: the copy may be linked in rather than renamed over.
	fresh bool
	// replace is called just before the rename when the destination already
	// holds something under the final name (archive it, or make way for a
	// file where a folder was); nil means plain overwrite.
	replace func() error
	// handoff, when set, takes over a complete temp file (with its size)
	// instead of fsync and rename: a committer flushes many at once. If it
	// returns an error the temp file is removed.
	handoff func(tmpPath string, n int64) error
	// busyWithin, when set, refuses (ErrSourceChanged) a source modified
	// less than this long ago: a writer may be in the middle of a write
	// call, and a copy made then would be a state the file only had for a
	// moment. The daemon's scans set it to the settle time (the change's
	// own event brings the file back once it is quiet); path jobs, which
	// run after the settle time, and one-shot runs do not.
	busyWithin time.Duration
	// holdWriters, when set, refuses (errWriterOpen) a source whose ctime
	// lies less than this long ago and that some process has open for
	// writing (a read lease is refused): a writer that paused mid-file,
	// met by a scan rather than by its own events. The daemon's scans set
	// it to max_delay where the watcher reports closes (Linux).
	holdWriters time.Duration
	// identity, when set, receives the identities of the source as it was
	// copied and of the file made from it, before handoff is called.
	identity *copyIdentity
}

// modifiedWithin reports whether mtime lies less than d in the past (a
// future mtime up to a second ahead counts too: coarse clocks). A file set
// to a time further ahead is not being written.
func modifiedWithin(mtime time.Time, d time.Duration) bool {
	if d <= 0 {
		return false // not asked: no clock read on the copy's hot path
	}
	age := time.Since(mtime)
	return age < d && age > -time.Second
}

// finishTemp puts a complete temp file under its final name.
func finishTemp(tmpPath, dst string, replace func() error) error {
	defer tempOver(tmpPath)
	if replace != nil {
		if err := replace(); err != nil {
			return err
		}
	}
	return rename(tmpPath, dst)
}

// removeTemp removes a temp file that will not be used.
func removeTemp(tmpPath string) {
	removeFile(tmpPath)
	tempOver(tmpPath)
}

// copyFilePortable is copyFile written with the os package only: the
// implementation on systems without a native one (copyfile_linux.go).
func copyFilePortable(ctx context.Context, src, dst string, o writeOptions) (n int64, err error) {
	in, err := openSource(src)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, ErrSourceGone
		}
		if errors.Is(err, syscall.ELOOP) { // became a symlink since the scan
			return 0, ErrSourceChanged
		}
		return 0, err // *fs.PathError already names op and path
	}
	defer in.Close()
	before, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if !before.Mode().IsRegular() || modifiedWithin(before.ModTime(), o.busyWithin) {
		return 0, ErrSourceChanged
	}
	tmpPath := newTemp(dst)
	tmp, err := createExclusive(tmpPath)
	if err != nil {
		tempOver(tmpPath)
		return 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()         // a second Close is harmless
			removeTemp(tmpPath) // never leave a partial file behind
		}
	}()
	if n, err = copyRange(ctx, tmp, in, before.Size()); err != nil {
		return n, fmt.Errorf("copy data: %w", err)
	}
	if err = unchangedSince(src, in, before); err != nil {
		return n, err
	}
	if err = setMetadata(tmp, before, o.owner); err != nil {
		return n, err
	}
	if o.fsync && o.handoff == nil {
		if err = tmp.Sync(); err != nil { // data on disk before a name points at it
			return n, err
		}
	}
	if err = tmp.Close(); err != nil { // close before rename: Windows requires it
		return n, err
	}
	// Times last: closing a file does not touch them, but writing does.
	if err = chtimesPath(tmpPath, time.Time{}, before.ModTime()); err != nil {
		return n, err
	}
	if o.handoff != nil {
		return n, o.handoff(tmpPath, n)
	}
	return n, finishTemp(tmpPath, dst, o.replace)
}

// unchangedSince returns ErrSourceChanged when the file at path is no
// longer the one opened as f (replaced by a rename) or f changed since
// before was taken (written, truncated, touched).
func unchangedSince(path string, f *os.File, before fs.FileInfo) error {
	now, err := f.Stat()
	if err != nil {
		return err
	}
	byName, err := lstatPath(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrSourceGone
	}
	if err != nil {
		return err
	}
	if now.Size() != before.Size() || !now.ModTime().Equal(before.ModTime()) || !sameFile(now, byName) {
		return ErrSourceChanged
	}
	return nil
}

// setMetadata gives the open temp file f the source's permission bits and,
// when owner is set, its owner. chown comes first: it clears set-id bits.
func setMetadata(f *os.File, src fs.FileInfo, withOwner bool) error {
	if withOwner {
		if uid, gid, ok := owner(src); ok {
			if err := f.Chown(uid, gid); err != nil {
				return err
			}
		}
	}
	return f.Chmod(src.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
}

// copySymlink makes dst a symlink with the target text of the symlink src,
// atomically (a temp link renamed over dst), never following either.
func copySymlink(src, dst string, o writeOptions) error {
	target, err := readlinkPath(src)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrSourceGone
	}
	if err != nil {
		return err
	}
	fi, err := lstatPath(src)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrSourceGone
	}
	if err != nil {
		return err
	}
	tmpPath := newTemp(dst)
	defer tempOver(tmpPath)
	if err := symlinkPath(target, tmpPath); err != nil {
		return err
	}
	err = finishSymlink(tmpPath, dst, fi, o)
	if err != nil {
		removePath(tmpPath)
	}
	return err
}

func finishSymlink(tmpPath, dst string, fi fs.FileInfo, o writeOptions) error {
	if o.owner {
		if uid, gid, ok := owner(fi); ok {
			if err := lchown(tmpPath, uid, gid); err != nil {
				return err
			}
		}
	}
	if err := setLinkTime(tmpPath, fi.ModTime()); err != nil {
		return err
	}
	return finishTemp(tmpPath, dst, o.replace)
}
