package sync

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrSourceChanged means the source file changed while it was copied;
	// the partial copy was discarded and the file is copied again later.
	ErrSourceChanged = errors.New("source changed while it was copied")
	// errWriterOpen means a scan found a file that changed lately and that
	// some process still has open for writing: the daemon leaves it to the
	// settle queue, which copies it once its writer closes it (or at
	// max_delay, as a snapshot).
	errWriterOpen = errors.New("source is still open for writing")
	// ErrSourceGone means the source entry vanished before it was copied;
	// nothing is wrong, the work is dropped.
	ErrSourceGone = errors.New("source vanished")
	// ErrDestinationFull means the destination has no space (or quota) left.
	ErrDestinationFull = errors.New("destination is full")
	// ErrTypeConflict means the destination holds a folder where the source
	// has a file or symlink, and the pair may not delete it.
	ErrTypeConflict = errors.New("destination has a folder where the source has a file; enable delete or archive, or remove it by hand")
)

// FileError is a failure on one path of one pair: which pair, what copyd
// was doing (Op: "copy", "read dir", "mkdir", "delete", ...), the path
// relative to the pair's source, and the cause.
type FileError struct {
	Pair string
	Op   string
	Path string
	Err  error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("%s: %s %q: %v", e.Pair, e.Op, e.Path, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// errorKind says how the engine treats a failure.
type errorKind int

const (
	kindRetry     errorKind = iota // transient: try again after a back-off
	kindDrop                       // the source vanished: nothing to do
	kindChanged                    // the source changed mid-copy: copy again soon
	kindHeld                       // a writer still has the source open: copy once it closes it
	kindPermanent                  // permission and the like: count, log, go on
	kindPause                      // the destination cannot take writes: stop the pair
)

// classify maps an error to how the engine handles it.
func classify(err error) errorKind {
	switch {
	case errors.Is(err, ErrSourceGone):
		return kindDrop
	case errors.Is(err, ErrSourceChanged):
		return kindChanged
	case errors.Is(err, errWriterOpen):
		return kindHeld
	case errors.Is(err, ErrDestinationFull), errors.Is(err, syscall.ENOSPC),
		errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EROFS):
		return kindPause
	case errors.Is(err, fs.ErrPermission), errors.Is(err, ErrTypeConflict),
		errors.Is(err, syscall.ENAMETOOLONG), errors.Is(err, syscall.EINVAL):
		return kindPermanent
	}
	return kindRetry
}
