//go:build !linux

package watcher

// watchLimit reports no limit: the inotify watch limits exist only on Linux.
func watchLimit() (setting string, n int, ok bool) { return "", 0, false }
