package config

import (
	"path/filepath"
	"strings"
)

// HasPathPrefix reports whether p is base or lies inside base, comparing
// whole path elements: "/data/a" is a prefix of "/data/a/b" and of
// "/data/a/", but not of "/data/ab". Both paths are cleaned first; an
// absolute and a relative path, or paths on different volumes, never
// match. It compares text only (callers resolve symbolic links first), and
// it is case-sensitive, also on systems whose file names are not.
func HasPathPrefix(base, p string) bool {
	if filepath.VolumeName(base) != filepath.VolumeName(p) || filepath.IsAbs(base) != filepath.IsAbs(p) {
		return false
	}
	base, p = filepath.Clean(base), filepath.Clean(p)
	if !filepath.IsAbs(p) {
		// A cleaned relative path has its ".." elements in front: "../x"
		// is inside ".." but not inside ".", and "x" is inside both.
		bu, pu := upCount(base), upCount(p)
		switch {
		case pu > bu:
			return false
		case pu < bu:
			return bu == len(elements(base))
		}
	}
	for {
		if p == base {
			return true
		}
		parent := filepath.Dir(p)
		if parent == p {
			return false
		}
		p = parent
	}
}

// elements splits a cleaned relative path; "." has none.
func elements(p string) []string {
	if p == "." {
		return nil
	}
	return strings.Split(filepath.ToSlash(p), "/")
}

// upCount counts the leading ".." elements of a cleaned relative path.
func upCount(p string) int {
	n := 0
	for _, e := range elements(p) {
		if e != ".." {
			break
		}
		n++
	}
	return n
}
