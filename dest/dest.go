package dest

import (
	"context"
	"io"
	"io/fs"
	"time"
)

// Kind is what an entry is.
type Kind uint8

// The kinds of entries.
const (
	File Kind = iota + 1
	Dir
	Symlink
	Other // a FIFO, socket or device (only a local destination has them)
)

func (k Kind) String() string {
	switch k {
	case File:
		return "file"
	case Dir:
		return "folder"
	case Symlink:
		return "symlink"
	case Other:
		return "special file"
	}
	return "unknown"
}

// Entry is one entry of a destination as Stat and List return it.
type Entry struct {
	Name    string // the last element of its path
	Kind    Kind
	Size    int64     // File: its length
	ModTime time.Time // to the backend's precision (Features.MtimePrecision)
	Mode    fs.FileMode
	// UID and GID are the owner where the backend keeps owners, else -1.
	UID, GID int
	Target   string // Symlink: the link's text
	// Hash is the hex BLAKE3 of a File's content where the backend stored
	// one with it (S3 object metadata); "" otherwise.
	Hash string
}

// Meta is what Put, Mkdir, Symlink and SetMeta set besides the content.
// A backend sets what its Features say it keeps and ignores the rest.
type Meta struct {
	ModTime time.Time   // zero: leave as the backend sets it
	Mode    fs.FileMode // permission bits (and setuid, setgid, sticky)
	// UID and GID are the owner to set; -1 leaves it (the connecting
	// user's). Only a backend with Features.Owners sets them.
	UID, GID int
	Hash     string // hex BLAKE3 of the content, for backends that store it
}

// NoOwner is a Meta that leaves the owner as it is.
func NoOwner(mode fs.FileMode, mtime time.Time) Meta {
	return Meta{ModTime: mtime, Mode: mode, UID: -1, GID: -1}
}

// Features says what a backend keeps and how it wants to be used.
type Features struct {
	Folders        bool          // folders exist of their own (false: implied by the names below them)
	Symlinks       bool          // symlinks are native (false: stored as the backend documents)
	Modes          bool          // POSIX permission bits are kept
	Owners         bool          // owner and group are kept (and can be set)
	MtimePrecision time.Duration // how precise a kept modification time is
	// MinTime and MaxTime bound the modification times kept (SFTP: 1970
	// to 2106); zero: no bound. Put refuses a time outside them.
	MinTime, MaxTime time.Time
	Connections      int // how many operations to run at once at most; 0: no limit
}

// Destination is where copyd writes a pair's mirror. Its methods are safe
// for concurrent use.
type Destination interface {
	// String names the destination for logs, never with credentials.
	String() string
	Features() Features
	// Stat returns the entry at rel without following a symlink;
	// ErrNotExist if there is none.
	Stat(ctx context.Context, rel string) (Entry, error)
	// List returns the entries of the folder rel, in no order;
	// ErrNotExist if there is no such folder.
	List(ctx context.Context, rel string) ([]Entry, error)
	// Open returns the content of the file rel (verification, and the
	// byte comparison that proves an entry equal to its source).
	Open(ctx context.Context, rel string) (io.ReadCloser, error)
	// Put stores size bytes read from r under rel, with m, atomically:
	// until it returns nil, rel shows what it showed before (its old
	// content, or nothing). A reader that ends before size bytes, or has
	// more, fails the Put. The folder of rel must exist where
	// Features.Folders is set. A folder at rel is an error.
	Put(ctx context.Context, rel string, r io.Reader, size int64, m Meta) error
	// Mkdir makes the folder rel (its parent must exist); an existing
	// folder is not an error. Where folders are implied it does nothing.
	Mkdir(ctx context.Context, rel string, m Meta) error
	// Symlink makes rel a symlink with the text target, replacing a file
	// or symlink there atomically.
	Symlink(ctx context.Context, rel, target string, m Meta) error
	// SetMeta sets m on the entry at rel (not following a symlink).
	SetMeta(ctx context.Context, rel string, m Meta) error
	// Remove removes the file or symlink at rel, or the folder at rel if
	// it is empty (ErrNotEmpty if not). A missing rel is ErrNotExist.
	Remove(ctx context.Context, rel string) error
	// Close ends the destination's connections.
	Close() error
}

// Renamer is a destination that renames entries itself, atomically: to is
// replaced if it exists (a folder only by a folder, and only if empty).
type Renamer interface {
	Rename(ctx context.Context, from, to string) error
}

// Copier is a destination that copies a file it holds to another name
// without the bytes passing through copyd (S3's server-side copy). The
// copy appears whole, as with Put.
type Copier interface {
	Copy(ctx context.Context, from, to string) error
}

// Aborter is a destination that keeps the parts of an upload cut short
// (S3's multipart uploads) and can drop those of one name. Not every
// store lists them by prefix (MinIO lists them only by exact key), so the
// engine names the keys whose uploads it started and did not finish.
type Aborter interface {
	AbortIncomplete(ctx context.Context, rel string) error
}
