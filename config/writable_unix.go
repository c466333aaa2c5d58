//go:build unix

package config

import "golang.org/x/sys/unix"

// writable reports why the existing folder dir cannot get new entries, or
// nil. access(2) also reports a read-only mount (EROFS), which the mode
// bits do not show.
func writable(dir string) error {
	return unix.Access(dir, unix.W_OK|unix.X_OK)
}
