package dest

import (
	"errors"
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
	// schemeName is a URL scheme as RFC 3986 allows it.
	schemeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)
)

// Parse reads a destination: a local path, s3://bucket/prefix or
// sftp://[user@]host[:port]/path. It refuses, with one sentence that says
// what to write instead, what would otherwise become a local folder of a
// strange name: scp's host:path, an unknown scheme, a bucket or host
// missing. It also refuses credentials in the destination, and its errors
// never repeat a password or an S3 secret: they show the destination with
// the password replaced by ***.
func Parse(s string) (Location, error) {
	if s == "" {
		return Location{}, fmt.Errorf("the destination is empty: give a folder, s3://bucket/prefix or sftp://user@host/path")
	}
	shown, hasPassword := redact(s)
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if scpLike.MatchString(s) && !windowsPath.MatchString(s) {
			return Location{}, scpError(s, shown, hasPassword)
		}
		return Location{Scheme: SchemeLocal, Path: s}, nil
	}
	switch strings.ToLower(scheme) {
	case SchemeS3:
		bucket, prefix, _ := strings.Cut(rest, "/")
		// Userinfo is looked for before the bucket name is checked, so
		// that no message quotes an access key's secret: AWS secrets may
		// hold slashes, so the whole destination is left out.
		_, port, hasColon := strings.Cut(bucket, ":")
		switch {
		case bucket == "":
			return Location{}, fmt.Errorf("%q names no bucket: write s3://bucket/prefix", shown)
		case strings.Contains(bucket, "@") || hasColon && (!isPort(port) || strings.Contains(rest, "@")):
			want := "s3://bucket/prefix"
			if at := strings.LastIndex(rest, "@"); at >= 0 && bucketName.MatchString(strings.SplitN(rest[at+1:], "/", 2)[0]) {
				want = "s3://" + rest[at+1:]
			}
			return Location{}, fmt.Errorf("credentials go in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a credentials file, never in the URL: write %s", want)
		case hasColon:
			return Location{}, fmt.Errorf("%q names an endpoint: write s3://bucket/prefix and put the server in the pair's s3: block (endpoint: host:port)", s)
		case !bucketName.MatchString(bucket):
			return Location{}, fmt.Errorf("%q: %q is not a valid S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)", s, bucket)
		}
		prefix = strings.Trim(prefix, "/")
		if strings.Contains("/"+prefix+"/", "/../") || strings.Contains("/"+prefix+"/", "/./") || strings.Contains(prefix, "//") {
			return Location{}, fmt.Errorf("%q: the prefix must be a clean path (no empty, . or .. parts)", s)
		}
		return Location{Scheme: SchemeS3, Bucket: bucket, Prefix: prefix}, nil
	case SchemeSFTP:
		// Checked before url.Parse, whose errors quote the whole URL: a
		// password holding a slash or a # does not parse.
		if hasPassword {
			return Location{}, fmt.Errorf("%q holds a password: copyd logs in with keys (an agent or a key file in the pair's sftp: block), never a password in the URL", shown)
		}
		u, err := url.Parse("sftp://" + rest)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // without the URL, quoted already
			}
			return Location{}, fmt.Errorf("%q is not a valid sftp:// URL (%v): write sftp://user@host/path", s, err)
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
	if !schemeName.MatchString(scheme) {
		return Location{}, fmt.Errorf("%q is neither a folder nor a URL copyd knows: use a local folder, s3://bucket/prefix or sftp://user@host/path", shown)
	}
	return Location{}, fmt.Errorf("%q: unknown destination scheme %q: use a local folder, s3://bucket/prefix or sftp://user@host/path", shown, scheme)
}

// scpError refuses scp's [user@]host:path, suggesting the sftp:// URL to
// write; shown is s with its password, if any, replaced by ***.
func scpError(s, shown string, hasPassword bool) error {
	if !hasPassword {
		host, path, _ := strings.Cut(s, ":")
		return fmt.Errorf("%q looks like scp's host:path, which copyd does not take as a remote: write sftp://%s/%s (or ./%s for a local folder whose name has a colon)",
			s, host, strings.TrimPrefix(path, "/"), s)
	}
	want := "sftp://user@host/path"
	if at := strings.Index(shown, "***@") + 3; at >= 3 {
		user, _, _ := strings.Cut(shown[:at], ":")
		if host, path, ok := strings.Cut(shown[at+1:], ":"); ok && host != "" {
			want = "sftp://" + user + "@" + host + "/" + strings.TrimPrefix(path, "/")
		}
	}
	return fmt.Errorf("%q looks like scp's user:password@host:path, which copyd does not take: write %s and log in with a key (an agent or a key file in the pair's sftp: block)", shown, want)
}

// redact returns s with the password of its userinfo (user:password@)
// replaced by ***, and whether it had one. It errs towards hiding: what
// it cannot tell from a password is hidden too, and only messages about
// a refused destination show its result.
func redact(s string) (string, bool) {
	head, rest := "", s
	if scheme, r, ok := strings.Cut(s, "://"); ok && schemeName.MatchString(scheme) {
		head, rest = scheme+"://", r
	}
	end := -1 // where the userinfo ends: at an @
	if head != "" {
		auth, _, _ := strings.Cut(rest, "/")
		if at := strings.LastIndex(auth, "@"); at >= 0 {
			end = at
		} else if _, port, ok := strings.Cut(auth, ":"); ok && !isPort(port) {
			end = strings.LastIndex(rest, "@") // a password holding a slash
		}
	} else {
		// scp's [user@]host:path: the userinfo ends at the last @ that a
		// host:path follows; in user:password@host, at the last @ unless
		// a path (host:/path@x) follows the first colon.
		if at := strings.LastIndex(rest[:strings.LastIndex(rest, ":")+1], "@"); at >= 0 {
			end = at
		} else if _, after, _ := strings.Cut(rest, ":"); !strings.HasPrefix(after, "/") {
			end = strings.LastIndex(rest, "@")
		}
	}
	if end < 0 {
		return s, false
	}
	c := strings.Index(rest[:end], ":")
	if c < 0 {
		return s, false
	}
	return head + rest[:c+1] + "***" + rest[end:], true
}

// isPort reports whether p is all digits, as a port is.
func isPort(p string) bool {
	return p != "" && strings.Trim(p, "0123456789") == ""
}
