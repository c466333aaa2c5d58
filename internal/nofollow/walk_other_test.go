//go:build unix && !linux

package nofollow

import "testing"

// forceWalk: the walk is all there is here.
func forceWalk(*testing.T) {}
