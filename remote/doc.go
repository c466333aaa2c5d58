// Package remote brings a remote destination (an S3 bucket prefix or an
// SFTP folder, package dest) in step with a local source folder: once
// ([Sync]) or as the source changes ([Daemon]).
//
// The local engine (package sync) keeps its own fast path for local
// folders; this one writes only through [dest.Destination], so every
// backend gets the same logic, and a dry run is the dest/dryrun wrapper.
//
// The invariant is the local engine's: bytes go under a destination name
// only when proven equal to that name's current source content. A file is
// read through a descriptor opened without following symlinks, stat'ed
// before and after, and uploaded with Put, which makes it visible only
// whole; a source that changed while it was read fails the Put (the
// reader refuses to hand out its last bytes) and is copied again. Files
// up to bufferMax are read into memory first, so their BLAKE3 goes into
// the object's metadata; bigger ones are hashed while they stream and the
// hash is kept in the index only.
//
// The pair's index (package index) is the record of what the destination
// holds: a file is up to date when its source identity (device, inode,
// size, mtime, ctime, mode, owner) equals its record, so a pass reads the
// source and the index, not the remote tree. The destination is listed
// (and compared with the records: size, mtime to the backend's precision,
// hash where stored) when there is no usable index, with checksum: true,
// and on the daemon's rescan schedule, which repairs drift.
//
// Deletions (delete: true) run after the copies and are held, with a log
// line, when the source root is empty while its destination is not or a
// source folder could not be read. A destination that refuses writes
// (full, read-only, no permission) or cannot be reached pauses the pair:
// a one-shot run stops it with one log line; the daemon retries with
// back-off and resumes by itself.
package remote
