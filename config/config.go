package config

import "time"

// Default values applied by Load and ForPaths where the YAML says nothing.
const (
	DefaultSettle   = 250 * time.Millisecond
	DefaultMaxDelay = 10 * time.Second
	DefaultRescan   = time.Hour
	DefaultListen   = "127.0.0.1:9471"
)

// DefaultPath is where copyd looks for its config when neither -c nor
// SRC DST are given (Linux; other platforms have their own, see defaultpath_*.go).
var DefaultPath = defaultPath()

// Config is a loaded, validated configuration: every path is absolute and
// clean, and every default has been applied.
type Config struct {
	// File is the absolute path of the YAML file it came from, "" for a
	// config built from command-line paths by ForPaths.
	File     string
	Workers  int           // concurrent copies across all pairs, >= 1
	Settle   time.Duration // quiet time after the last event before a file is copied
	MaxDelay time.Duration // a file that keeps changing is copied at least this often
	Rescan   time.Duration // periodic full rescan; 0 turns it off
	// StateDir holds each pair's index (what copyd wrote): absolute.
	StateDir string
	Log      Log
	Status   Status
	Pairs    []Pair
}

// Log selects the log level and format.
type Log struct {
	Level  string // debug, info, warn, error
	Format string // text, json
}

// Status configures the status endpoint; Listen "" disables it.
type Status struct {
	Listen string
	// AllowRemote permits a Listen address other than loopback: the
	// endpoint has no authentication and shows folder paths and errors.
	AllowRemote bool
}

// Pair is one source folder kept in step with one destination folder.
type Pair struct {
	Name        string   // unique within a Config; defaults to the source's base name
	Source      string   // absolute, clean, symlinks resolved
	Destination string   // absolute, clean, symlinks resolved as far as it exists (may not exist yet)
	Delete      bool     // mirror deletions
	Archive     string   // absolute folder for overwritten/deleted destination files, resolved like Destination; "" = none
	Exclude     []string // gitignore-syntax patterns, relative to Source
	Checksum    bool     // compare content, not only size and mtime
	Fsync       bool     // fsync files and directories before reporting them done
}
