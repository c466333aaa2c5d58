package watcher

import (
	"fmt"
	"log/slog"
)

// logLimit logs the one error that explains a refused watch and how to fix
// it: the setting, its current value, how many folders need a watch and the
// command that raises it.
func logLimit(log *slog.Logger, watched, missing int) {
	need := watched + missing
	setting, cur, ok := watchLimit()
	if !ok {
		log.Error("watch limit reached; unwatched folders are found by periodic rescans",
			"folders", need, "watched", watched)
		return
	}
	n := max(2*cur, 2*need)
	log.Error("inotify watch limit reached; unwatched folders are found by periodic rescans",
		"setting", setting,
		"current", cur,
		"folders", need,
		"watched", watched,
		"fix", limitFix(setting, n))
}

// limitFix says how to raise setting to n.
func limitFix(setting string, n int) string {
	if setting == "user.max_inotify_watches" {
		return fmt.Sprintf("copyd runs in a user namespace (a container) with its own limit: run 'sysctl user.max_inotify_watches=%d' as root inside it, or have the container's limit raised", n)
	}
	return fmt.Sprintf("run 'sysctl %s=%d' as root, and keep it with 'echo %s=%d > /etc/sysctl.d/90-copyd.conf'", setting, n, setting, n)
}
