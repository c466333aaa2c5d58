package index

import "errors"

// ErrLocked says another copyd uses the database (and so the destination).
var ErrLocked = errors.New("index: in use by another copyd")

// LockedError is returned by [Open] when another process holds the lock.
type LockedError struct {
	Holder string // "pid N: command line" of the holder, as it wrote it; may be empty
}

func (e *LockedError) Error() string {
	if e.Holder == "" {
		return "another copyd is using this destination"
	}
	return "another copyd is using this destination (" + e.Holder + ")"
}

// Is makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }
