//go:build !linux

package watcher

// watchLimit reports no limit: fs.inotify.max_user_watches exists only on Linux.
func watchLimit() (n int, ok bool) { return 0, false }
