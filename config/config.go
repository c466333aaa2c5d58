package config

import (
	"time"

	"github.com/copyd/copyd/dest"
)

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
	// S3 and SFTP say how to reach a remote destination (s3://…,
	// sftp://…); a local destination has neither block.
	S3   S3
	SFTP SFTP
}

// Remote reports whether the pair writes to an S3 or SFTP destination.
func (p Pair) Remote() bool {
	loc, err := dest.Parse(p.Destination)
	return err == nil && loc.Remote()
}

// S3 is a pair's s3: block. Credentials never appear here: they come from
// the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, or MinIO's MINIO_ROOT_USER/MINIO_ROOT_PASSWORD) or
// from an AWS shared credentials file.
type S3 struct {
	Endpoint        string // host[:port] or http(s)://host[:port]; "" is AWS_ENDPOINT_URL, else AWS
	Region          string
	PathStyle       bool   // bucket in the path (MinIO and most self-hosted stores)
	CredentialsFile string // an AWS shared credentials file; "" is ~/.aws/credentials
	Connections     int    // requests at once; 0 is 16
}

// SFTP is a pair's sftp: block.
type SFTP struct {
	KeyFile     string // a private key; "" tries the agent and ~/.ssh/id_*
	KnownHosts  string // "" is ~/.ssh/known_hosts
	Connections int    // operations at once; 0 is 8
}
