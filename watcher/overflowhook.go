package watcher

import "path/filepath"

// overflowEnv names the environment variable of the overflow test hook (see
// the package doc). End-to-end tests use it because they cannot shrink the
// kernel's queue for one process without shrinking it for every process.
const overflowEnv = "COPYD_TEST_OVERFLOW"

// overflowHook plays a full kernel queue: from the creation of a file named
// name until its removal, every event is lost.
type overflowHook struct {
	name     string // base name that opens the window; "" disables the hook
	dropping string // path of the file that opened the window, while open
}

// filter reports whether the event of path (created or removed, or
// neither) is lost, and whether it closes the window, after which the loss
// must be handled as a kernel queue overflow.
func (h *overflowHook) filter(path string, created, removed bool) (drop, overflow bool) {
	switch {
	case h.name == "":
		return false, false
	case h.dropping == "":
		if created && filepath.Base(path) == h.name {
			h.dropping = path
			return true, false
		}
		return false, false
	case removed && path == h.dropping:
		h.dropping = ""
		return true, true
	}
	return true, false
}
