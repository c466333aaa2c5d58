package dest

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// CheckRel returns an error unless rel is a path as a Destination takes
// it: relative, slash-separated, clean, never above the root ("" is the
// root).
func CheckRel(rel string) error {
	if rel == "" {
		return nil
	}
	if path.IsAbs(rel) || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("%q is not a clean relative path: %w", rel, fs.ErrInvalid)
	}
	return nil
}

// ModeMask is the part of an fs.FileMode a destination keeps: permission
// bits, setuid, setgid and sticky.
const ModeMask = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// ModeBits returns m's permission and set-id/sticky bits as chmod(2)
// takes them (what os.Chmod does).
func ModeBits(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// FileMode is ModeBits undone: chmod(2) bits (the type bits of a raw
// st_mode are ignored) as an fs.FileMode.
func FileMode(bits uint32) fs.FileMode {
	m := fs.FileMode(bits & 0o777)
	if bits&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if bits&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if bits&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
