// Package dest is what copyd writes to: a small interface that a local
// folder, an S3-compatible bucket and an SFTP server each implement
// (packages dest/local, dest/s3 and dest/sftp), so that the engine
// places bytes, folders, symlinks and metadata without knowing where they
// go.
//
// The core every backend has: [Destination.Stat], [Destination.List], an
// atomic [Destination.Put] (a name holds either its old content or the
// whole new content, never a part), [Destination.Mkdir],
// [Destination.Symlink], [Destination.SetMeta], [Destination.Remove].
// What only some have is an optional interface checked with a type
// assertion ([Renamer], [Copier]) and described by [Features]: whether
// folders are real, whether symlinks and POSIX modes and owners are kept,
// how precise modification times are, how many connections to use.
//
// Backends translate their failures into the sentinels of this package
// ([ErrNotExist], [ErrFull], [ErrReadOnly], [ErrUnsupported],
// [ErrPermission], [ErrNotEmpty]) and mark retryable ones with
// [Transient], so the engine decides by errors.Is, never by errno or HTTP
// status. [Parse] turns a destination as the user wrote it (a path,
// s3://bucket/prefix, sftp://user@host:port/path) into a [Location] and
// refuses what would silently become a wrong local folder (scp-style
// host:path, unknown schemes).
//
// Paths given to a Destination are relative to its root, slash-separated,
// clean, never "..": "" is the root itself.
package dest
