package dest

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// The kinds of destinations a Location names.
const (
	SchemeLocal = "local"
	SchemeS3    = "s3"
	SchemeSFTP  = "sftp"
)

// Location is a destination as the user wrote it, taken apart.
type Location struct {
	Scheme string // SchemeLocal, SchemeS3 or SchemeSFTP
	Path   string // local: the folder as written; SFTP: the remote folder
	Bucket string // S3
	Prefix string // S3: the key prefix, without slashes at either end ("" for the whole bucket)
	User   string // SFTP: "" for the local user's name
	Host   string // SFTP
	Port   int    // SFTP: 0 for 22
}

// String returns the location in the form Parse reads.
func (l Location) String() string {
	switch l.Scheme {
	case SchemeS3:
		return "s3://" + l.Bucket + "/" + l.Prefix
	case SchemeSFTP:
		u := url.URL{Scheme: "sftp", Host: l.Host, Path: l.Path}
		if l.Port != 0 {
			u.Host += ":" + strconv.Itoa(l.Port)
		}
		if l.User != "" {
			u.User = url.User(l.User)
		}
		return u.String()
	}
	return l.Path
}

// Remote reports whether the location is not a local folder.
func (l Location) Remote() bool { return l.Scheme != SchemeLocal }

var (
	// scpLike is host:path the way scp and rsync write a remote: a colon
	// before any slash. A Windows drive (C:\ or C:/) is not one.
	scpLike     = regexp.MustCompile(`^[^/\\]*:`)
	windowsPath = regexp.MustCompile(`^[A-Za-z]:([/\\]|$)`)
	// bucketName is what S3 allows (3–63 lowercase letters, digits, dots
	// and hyphens, starting and ending with a letter or digit).
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// Parse reads a destination: a local path, s3://bucket/prefix or
// sftp://[user@]host[:port]/path. It refuses, with one sentence that says
// what to write instead, what would otherwise become a local folder of a
// strange name: scp's host:path, an unknown scheme, a bucket or host
// missing.
func Parse(s string) (Location, error) {
	if s == "" {
		return Location{}, fmt.Errorf("the destination is empty: give a folder, s3://bucket/prefix or sftp://user@host/path")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if scpLike.MatchString(s) && !windowsPath.MatchString(s) {
			host, path, _ := strings.Cut(s, ":")
			return Location{}, fmt.Errorf("%q looks like scp's host:path, which copyd does not take as a remote: write sftp://%s/%s (or ./%s for a local folder whose name has a colon)",
				s, host, strings.TrimPrefix(path, "/"), s)
		}
		return Location{Scheme: SchemeLocal, Path: s}, nil
	}
	switch strings.ToLower(scheme) {
	case SchemeS3:
		bucket, prefix, _ := strings.Cut(rest, "/")
		switch {
		case bucket == "":
			return Location{}, fmt.Errorf("%q names no bucket: write s3://bucket/prefix", s)
		case !bucketName.MatchString(bucket):
			return Location{}, fmt.Errorf("%q: %q is not a valid S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)", s, bucket)
		case strings.Contains(bucket, "@") || strings.Contains(bucket, ":"):
			return Location{}, fmt.Errorf("%q: credentials and endpoints go in the pair's s3: block, not in the URL", s)
		}
		prefix = strings.Trim(prefix, "/")
		if strings.Contains("/"+prefix+"/", "/../") || strings.Contains("/"+prefix+"/", "/./") || strings.Contains(prefix, "//") {
			return Location{}, fmt.Errorf("%q: the prefix must be a clean path (no empty, . or .. parts)", s)
		}
		return Location{Scheme: SchemeS3, Bucket: bucket, Prefix: prefix}, nil
	case SchemeSFTP:
		u, err := url.Parse("sftp://" + rest)
		if err != nil {
			return Location{}, fmt.Errorf("%q is not a valid sftp:// URL: %w", s, err)
		}
		if _, hasPass := u.User.Password(); hasPass {
			return Location{}, fmt.Errorf("%q holds a password: copyd logs in with keys (an agent or a key file in the pair's sftp: block), never a password in the URL", s)
		}
		l := Location{Scheme: SchemeSFTP, User: u.User.Username(), Host: u.Hostname(), Path: u.Path}
		if l.Host == "" {
			return Location{}, fmt.Errorf("%q names no host: write sftp://user@host/path", s)
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return Location{}, fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, p)
			}
			l.Port = n
		}
		if l.Path == "" || l.Path == "/" {
			return Location{}, fmt.Errorf("%q names no folder on the server: write sftp://%s/path/to/backup", s, u.Host)
		}
		return l, nil
	}
	return Location{}, fmt.Errorf("%q: unknown destination scheme %q: use a local folder, s3://bucket/prefix or sftp://user@host/path", s, scheme)
}
