package nofollow

import "testing"

// forceWalk makes the test use the walk instead of openat2.
func forceWalk(t *testing.T) {
	was := noOpenat2.Load()
	noOpenat2.Store(true)
	t.Cleanup(func() { noOpenat2.Store(was) })
}
