package tempname

import (
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Temp files are named .<name>.copyd-<16 hex>.tmp so that they sort next to
// the file they become, are hidden on Unix, and are recognised by [Is].
const (
	tempInfix   = ".copyd-"
	tempSuffix  = ".tmp"
	tempRandLen = 16
	MaxNameLen  = 255  // bytes in one path component on every filesystem copyd targets
	MaxPathLen  = 4095 // bytes in a path the kernel takes whole (PATH_MAX less the NUL) on Linux
	// tempOverhead is what the pattern adds around <name>.
	tempOverhead = 1 + len(tempInfix) + tempRandLen + len(tempSuffix)
)

// For returns a fresh temp name for the final name name. A long name
// is cut on a UTF-8 boundary so the result fits in MaxNameLen bytes.
func For(name string) string {
	return forLen(name, MaxNameLen-tempOverhead)
}

// Beside returns the path of a fresh temp file in the folder of path, for
// path. The name part is cut further where the whole path would pass
// MaxPathLen: a file whose name is at least the pattern's 28 bytes long
// then always has a temp path that fits when its own path does.
func Beside(path string) string {
	dir, name := filepath.Split(path)
	return dir + forLen(name, min(MaxNameLen, MaxPathLen-len(dir))-tempOverhead)
}

func forLen(name string, n int) string {
	var b [tempRandLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "." + Shorten(name, max(n, 0)) + tempInfix + hex.EncodeToString(b[:]) + tempSuffix
}

// Shorten cuts s to at most n bytes without splitting a UTF-8 sequence (for
// invalid UTF-8 it still never cuts more than 3 extra bytes).
func Shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
		cut--
	}
	return s[:cut]
}

// Is reports whether name is one of copyd's temp files, of this build or
// left by any other: DESIGN's contract is that every name matching
// .*.copyd-*.tmp is copyd's (scans skip them, starts remove them), so a
// crash of an older or newer copyd never leaves one behind for good.
func Is(name string) bool {
	if len(name) < 1+len(tempInfix)+len(tempSuffix) || name[0] != '.' || !strings.HasSuffix(name, tempSuffix) {
		return false
	}
	return strings.Contains(name[1:len(name)-len(tempSuffix)], tempInfix)
}
