package watcher

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A disk mounted on a watched folder makes no inotify event: the folder's
// watch stays on the folder underneath, and the disk's files (and what is
// written on it later) would arrive only with the periodic rescan. The
// kernel does say when the mount table changes: poll(2) on
// /proc/self/mountinfo reports POLLPRI. One goroutine polls it for every
// watcher of the process; a watcher told of a change looks for mount
// points below its root that are new or gone and lists their parents
// again (reconcile), which watches the disk's folders and reports the
// mount point with DirAdded, so the daemon scans it.

const mountInfo = "/proc/self/mountinfo"

// aLongTimeAgo is a read deadline that ends a read at once.
var aLongTimeAgo = time.Unix(1, 0)

// mountPoll is the process's one poller of the mount table.
var mountPoll struct {
	mu      sync.Mutex
	subs    map[*Watcher]struct{}
	running bool
}

// watchMounts has w told (mountsChanged) whenever the mount table changes,
// until unwatchMounts(w).
func watchMounts(w *Watcher) {
	mountPoll.mu.Lock()
	defer mountPoll.mu.Unlock()
	if mountPoll.subs == nil {
		mountPoll.subs = make(map[*Watcher]struct{})
	}
	mountPoll.subs[w] = struct{}{}
	if !mountPoll.running {
		mountPoll.running = true
		go pollMounts()
	}
}

func unwatchMounts(w *Watcher) {
	mountPoll.mu.Lock()
	delete(mountPoll.subs, w)
	mountPoll.mu.Unlock()
}

// mountPollEvery is how long one poll waits before it checks whether any
// watcher is left.
const mountPollEvery = 1000 // ms

// pollMounts tells the watchers of each change of the mount table; it
// ends once none is left.
func pollMounts() {
	stop := func() {
		mountPoll.mu.Lock()
		mountPoll.running = false
		mountPoll.mu.Unlock()
	}
	fd, err := unix.Open(mountInfo, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		stop() // no /proc: mounts are found by the periodic rescan
		return
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
	for {
		mountPoll.mu.Lock()
		if len(mountPoll.subs) == 0 {
			mountPoll.running = false
			mountPoll.mu.Unlock()
			return
		}
		mountPoll.mu.Unlock()
		n, err := unix.Poll(fds, mountPollEvery)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			stop()
			return
		case n == 0 || fds[0].Revents&(unix.POLLPRI|unix.POLLERR) == 0:
			continue
		}
		mountPoll.mu.Lock()
		for w := range mountPoll.subs {
			w.mountsMoved()
		}
		mountPoll.mu.Unlock()
	}
}

// mountsMoved wakes w's goroutine to look at the mount table.
func (w *Watcher) mountsMoved() {
	w.mountsChanged.Store(true)
	_ = w.f.SetReadDeadline(aLongTimeAgo)
}

// mountsBelow returns the mount points strictly below root, each with
// its mount ID (a disk mounted again at the same place has a new one).
func mountsBelow(root string) map[string]int {
	b, err := os.ReadFile(mountInfo)
	if err != nil {
		return nil
	}
	prefix := strings.TrimSuffix(root, "/") + "/"
	out := make(map[string]int)
	for line := range bytes.Lines(b) {
		// ID parentID major:minor root mountpoint options ...
		f := bytes.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountPath(string(f[4]))
		if !strings.HasPrefix(mp, prefix) {
			continue
		}
		id, err := strconv.Atoi(string(f[0]))
		if err != nil {
			continue
		}
		out[strings.TrimPrefix(mp, prefix)] = id
	}
	return out
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space,
// \011, \012, \134).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// checkMounts compares the mount points below the root with the last
// look and lists again the parent of each one mounted, mounted again or
// unmounted since: reconcile then watches what the path shows now and
// reports a changed folder with DirAdded.
func (w *Watcher) checkMounts() {
	now := mountsBelow(w.root)
	for rel, id := range now {
		if w.mounts[rel] != id {
			w.log.Info("disk mounted in the source; watching and scanning it", "path", rel)
			w.markParentDirty(rel)
		}
	}
	for rel := range w.mounts {
		if _, ok := now[rel]; !ok {
			w.log.Debug("disk unmounted in the source", "path", rel)
			w.markParentDirty(rel)
		}
	}
	w.mounts = now
}

// markParentDirty has the parent folder of rel listed again, if watched.
func (w *Watcher) markParentDirty(rel string) {
	n := w.top
	parts := strings.Split(rel, "/")
	for _, name := range parts[:len(parts)-1] {
		if n = n.children[name]; n == nil {
			return
		}
	}
	w.markDirty(n)
}
