package config

import (
	"bytes"
	"fmt"
	"github.com/copyd/copyd/dest"
	"io"
	"os"
	"strconv"
	"strings"
)

// WritePlan writes what c will do, for `copyd check`: the global settings,
// then for each pair its folders and options, and whether its destination
// exists or will be created (for a remote one: where it is and how it is
// reached). The text is for people and may change; it is written with a
// single call to w.Write, whose error WritePlan returns.
func (c *Config) WritePlan(w io.Writer) error {
	var b bytes.Buffer
	line := func(indent, key, format string, args ...any) {
		fmt.Fprintf(&b, "%s%-13s%s\n", indent, key+":", fmt.Sprintf(format, args...))
	}
	file := c.File
	if file == "" {
		file = "none (folders from the command line)"
	}
	line("", "config", "%s", file)
	line("", "workers", "%d concurrent copies across all pairs", c.Workers)
	line("", "settle", "%s after the last change before a file is copied", fmtDuration(c.Settle))
	line("", "max_delay", "%s at most before a file that keeps changing is copied", fmtDuration(c.MaxDelay))
	if c.Rescan == 0 {
		line("", "rescan", "off")
	} else {
		line("", "rescan", "every %s (±25%%), to repair what events missed", fmtDuration(c.Rescan))
	}
	line("", "state_dir", "%s (what copyd wrote, one index per pair)", c.StateDir)
	line("", "log", "level %s, format %s", c.Log.Level, c.Log.Format)
	if c.Status.Listen == "" {
		line("", "status", "off")
	} else {
		line("", "status", "http://%s (/healthz, /status, /metrics)", c.Status.Listen)
	}
	if len(c.Pairs) == 0 {
		line("", "pairs", "none: nothing to copy; add one with a source and a destination under pairs: (the comments in the file show how)")
	}
	for _, p := range c.Pairs {
		fmt.Fprintf(&b, "\npair %q: %s → %s\n", p.Name, p.Source, p.Destination)
		if _, err := os.Stat(p.Source); err != nil {
			line("  ", "source", "missing: copyd run waits for it, copyd sync refuses to start")
		}
		if loc, err := dest.Parse(p.Destination); err == nil && loc.Remote() {
			line("  ", "destination", "%s", remotePlan(loc, p))
		} else {
			line("  ", "destination", "%s", existence(p.Destination))
		}
		if p.Delete {
			line("  ", "delete", "yes: files removed from the source are removed from the destination")
		} else {
			line("  ", "delete", "no: files removed from the source stay in the destination")
		}
		if p.Archive == "" {
			line("  ", "archive", "none: destination files are overwritten or deleted in place")
		} else {
			line("  ", "archive", "%s (%s): replaced and deleted destination files are moved there", p.Archive, existence(p.Archive))
		}
		if len(p.Exclude) == 0 {
			line("  ", "exclude", "none")
		} else {
			q := make([]string, len(p.Exclude))
			for i, e := range p.Exclude {
				q[i] = strconv.Quote(e)
			}
			line("  ", "exclude", "%s", strings.Join(q, ", "))
		}
		if p.Checksum {
			line("  ", "checksum", "yes: scans also compare the contents of files of equal size")
		} else {
			line("  ", "checksum", "no: files are compared by size and modification time")
		}
		if p.Fsync {
			line("  ", "fsync", "yes: each copy is on disk before it counts as done")
		} else {
			line("  ", "fsync", "no: faster, but a power cut can lose recent copies")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// remotePlan says where a remote destination is and how it is reached.
// Credentials never appear in the config (dest.Parse refuses them in the
// URL), so none are printed.
func remotePlan(loc dest.Location, p Pair) string {
	if loc.Scheme == dest.SchemeS3 {
		at := p.S3.Endpoint
		if at == "" {
			at = "AWS_ENDPOINT_URL if set, else AWS"
		}
		if p.S3.Region != "" {
			at += ", region " + p.S3.Region
		}
		return fmt.Sprintf("%s (S3 at %s)", strings.TrimSuffix(loc.String(), "/"), at)
	}
	known := p.SFTP.KnownHosts
	if known == "" {
		known = "~/.ssh/known_hosts"
	}
	return fmt.Sprintf("%s (SFTP; host key checked against %s)", loc, known)
}

// existence says whether folder dir exists or will be created.
func existence(dir string) string {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return "exists"
	}
	if anc, _ := nearestExisting(dir); anc != "" {
		return "will be created in " + anc
	}
	return "will be created"
}
