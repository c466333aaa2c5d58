package watcher

import "strings"

// isTemp reports whether name is one of copyd's temp files,
// .<name>.copyd-<16 lowercase hex>.tmp. It mirrors isTemp in package sync.
func isTemp(name string) bool {
	const (
		infix   = ".copyd-"
		suffix  = ".tmp"
		randLen = 16
	)
	if !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, suffix) {
		return false
	}
	rest := name[:len(name)-len(suffix)]
	if len(rest) < len(infix)+randLen {
		return false
	}
	random := rest[len(rest)-randLen:]
	if !strings.HasSuffix(rest[:len(rest)-randLen], infix) {
		return false
	}
	for i := 0; i < len(random); i++ {
		c := random[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
