// Package sync is copyd's engine: it scans source folders, decides what
// changed, and copies files into their destinations atomically with one
// bounded worker pool shared fairly by every pair. Import it as copysync:
//
//	import copysync "github.com/copyd/copyd/sync"
//
// The directory is sync/ and the package is sync because Go expects a
// package's name to match its path (rclone's fs/sync does the same);
// importers always spell it copysync so the code greps one way and the
// standard library's sync keeps its own name. Inside this package, "sync"
// is the standard one.
//
// The invariant: bytes go under a destination name only when they are
// proven equal to that name's current source content — copied from the
// source now (stat before and after), or an existing destination entry
// proven by its exact identity record in the pair's index (package index)
// or by a byte comparison. Size and mtime alone are proof only where there
// is no record (a first run, as in rsync). A rename is matched by the
// recorded device and inode, never by size and mtime; a path whose identity
// changed is checked as changed. See judge (memory.go) and moves.go.
//
// Guarantees: a file under its final name in a destination is always
// complete (temp file in the destination folder, then rename); a source that
// changed while it was copied is discarded and copied again; symlinks are
// recreated with their own mtime, never followed, on either side; times
// go as seconds and nanoseconds (int64 nanoseconds end in 2262); a folder
// scan that rolls up many events does all they asked for (sync/settle,
// rollUp); nothing is deleted while a
// source root is empty and its destination is not, or after a source folder
// could not be read. A destination that fills up pauses its pair; with
// delete, the deletions no brake holds then go first (room.go). Per-file
// failures are [*FileError] values: logged once, counted, and never stop
// the other files.
//
// Goroutines: [Sync] owns all it starts and returns only after they ended.
// A [Pool] owns its workers; [Pool.Close] waits for them.
package sync
