package watcher

import (
	"os"
	"strconv"
	"strings"
)

// watchLimit returns fs.inotify.max_user_watches, the kernel's limit on
// watches per user.
func watchLimit() (n int, ok bool) {
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_watches")
	if err != nil {
		return 0, false
	}
	n, err = strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}
