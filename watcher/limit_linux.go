package watcher

import (
	"os"
	"strconv"
	"strings"
)

// watchLimit returns the inotify watch limit that applies to this process
// and the name of its setting. Since Linux 5.11 the limit is counted per
// user namespace: fs.inotify.max_user_watches is the initial namespace's,
// and /proc/sys/user/max_inotify_watches shows the current namespace's
// (the same value outside containers). A watch must fit under both, so the
// lower one is the one to raise. Limits of namespaces between the two
// cannot be read from here.
func watchLimit() (setting string, n int, ok bool) {
	global, gok := readInt("/proc/sys/fs/inotify/max_user_watches")
	ns, nok := readInt("/proc/sys/user/max_inotify_watches")
	switch {
	case nok && (!gok || ns < global):
		return "user.max_inotify_watches", ns, true
	case gok:
		return "fs.inotify.max_user_watches", global, true
	}
	return "", 0, false
}

func readInt(p string) (int, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}
