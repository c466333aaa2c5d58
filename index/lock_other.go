//go:build !unix

package index

// lockFile is a no-op where flock is missing (Windows): there, one copyd
// per destination is not enforced.
type lockFile struct{}

func takeLock(string, string) (*lockFile, error) { return &lockFile{}, nil }

func (*lockFile) release() {}

// LockName does nothing where flock is missing.
func LockName(string) (func(), error) { return func() {}, nil }
