// Package local is the destination backend of a folder on a local disk:
// every path operation resolves beneath the root without following a
// symlink at any component (internal/nofollow), a file is written to a
// temp file beside its name and renamed over it once complete and
// flushed, and modes, owners (as root) and nanosecond modification times
// are kept, on symlinks too.
//
// It is the reference the conformance suite (dest/desttest) is written
// against. The engine keeps its own faster local path (O_TMPFILE,
// copy_file_range, batched syncfs) for local pairs; this backend is the
// same contract through the [dest.Destination] interface. Unix only:
// internal/nofollow is.
package local
