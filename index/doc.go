// Package index is copyd's memory of what it wrote: one SQLite database per
// pair that records, for every destination path copyd made, the identity of
// the source entry it was copied from (device, inode, size, mtime and ctime
// in nanoseconds, mode, owner, symlink target) and of the destination entry
// it became (inode, size, mtime, ctime). The engine uses it to know, not guess:
// a file is unchanged only when both identities still match their record,
// and a rename is matched by inode, never by size and mtime.
//
// A database is bound to its destination (path, device and inode of the
// folder) and to its source path, and carries a schema version; [Open]
// rebuilds one that is missing, unreadable, corrupt, from another schema
// or bound to another folder, and says why in one log line. A record is a
// fact about the past ("source S was copied to destination entry D"), so a
// record that is stale or lost costs work, never data: both sides are
// compared with the present before it is trusted.
//
// Writes go through one writer goroutine that batches them into
// transactions (WAL, synchronous=NORMAL: a crash loses at most the last
// batches, never consistency); reads run on their own connections and see
// every write made before them, committed or still queued (queued puts and
// deletes are kept in memory until their batch commits; a read waits for
// a queued move). [DB.Flush] waits until everything written is committed.
//
// A lock file beside the database makes sure one copyd at a time uses a
// destination's database ([ErrLocked] names the other process).
//
// Goroutines: [Open] starts the writer; [DB.Close] ends it and waits.
package index
