package dest

import (
	"errors"
	"io/fs"
)

// The errors backends translate their failures into; callers test them
// with errors.Is.
var (
	// ErrNotExist: no entry at the path (also fs.ErrNotExist).
	ErrNotExist = fs.ErrNotExist
	// ErrPermission: the backend refused the operation on this path
	// (also fs.ErrPermission).
	ErrPermission = fs.ErrPermission
	// ErrFull: no space or quota left.
	ErrFull = errors.New("destination is full")
	// ErrReadOnly: the destination takes no writes at all.
	ErrReadOnly = errors.New("destination is read-only")
	// ErrUnsupported: the backend cannot do this (a special file on S3).
	ErrUnsupported = errors.New("not supported by this destination")
	// ErrNotEmpty: a folder to remove still has entries.
	ErrNotEmpty = errors.New("folder is not empty")
	// ErrShortSource: Put's reader ended before, or went past, its size
	// (the source changed while it was read).
	ErrShortSource = errors.New("source did not have the size it was stat'ed with")
)

// Transient marks err as worth retrying after a back-off (a dropped
// connection, a server restarting, a timeout): [IsTransient] reports it.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &transientError{err}
}

type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// IsTransient reports whether err, or an error it wraps, was marked with
// [Transient].
func IsTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}
