package config

import (
	"errors"
	"github.com/copyd/copyd/dest"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// absPaths makes every pair's paths absolute (relative ones against base)
// and clean. Empty paths and paths starting with ~ are left for the checks
// to report.
func absPaths(c *Config, base string) {
	c.StateDir = absPath(base, c.StateDir)
	for i := range c.Pairs {
		p := &c.Pairs[i]
		p.Source = absPath(base, p.Source)
		if loc, err := dest.Parse(p.Destination); err == nil && !loc.Remote() {
			p.Destination = absPath(base, p.Destination) // else left as written, for checkPair to report
		}
		p.Archive = absPath(base, p.Archive)
		p.S3.CredentialsFile = absPath(base, p.S3.CredentialsFile)
		p.SFTP.KeyFile = absPath(base, p.SFTP.KeyFile)
		p.SFTP.KnownHosts = absPath(base, p.SFTP.KnownHosts)
	}
}

func absPath(base, p string) string {
	if p == "" || isTilde(p) {
		return p
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	return filepath.Clean(p)
}

// isTilde reports whether p starts with a shell's home-folder ~, which
// copyd does not expand: a service's home is rarely the one the user meant.
func isTilde(p string) bool {
	return p == "~" || strings.HasPrefix(p, "~/") || strings.HasPrefix(p, "~"+string(filepath.Separator))
}

// resolveExisting resolves the symbolic links in p as far as p exists: its
// nearest existing ancestor is resolved and the rest appended. It is what
// p will be once created, for comparing folders that may not exist yet.
func resolveExisting(p string) string {
	rest := ""
	for q := p; ; {
		if real, err := filepath.EvalSymlinks(q); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(q)
		if parent == q {
			return p
		}
		rest = filepath.Join(filepath.Base(q), rest)
		q = parent
	}
}

// nearestExisting returns the closest ancestor of p that exists, with its
// FileInfo, or "" and nil if there is none.
func nearestExisting(p string) (string, fs.FileInfo) {
	for q := filepath.Dir(p); ; q = filepath.Dir(q) {
		if fi, err := os.Stat(q); err == nil {
			return q, fi
		}
		if filepath.Dir(q) == q {
			return "", nil
		}
	}
}

// reason is the cause inside a *fs.PathError ("permission denied"), for
// messages that name the path themselves.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// show returns p, followed by where it really leads when symbolic links
// make that differ.
func show(p, real string) string {
	if real == "" || real == p {
		return p
	}
	return p + " (which leads to " + real + ")"
}
