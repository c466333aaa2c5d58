package watcher

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/copyd/copyd/internal/nofollow"
	"github.com/copyd/copyd/internal/tempname"
	"golang.org/x/sys/unix"
)

// watchMask is what every folder's watch asks for. IN_CLOSE_WRITE tells
// when a writer is done (fsnotify keeps it unexported); IN_MOVE_SELF and
// IN_DELETE_SELF are not asked for: a folder's moves are learnt from its
// parent's events, where they carry a name.
const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE | unix.IN_ONLYDIR | unix.IN_EXCL_UNLINK

// rootMask is what the root's watch asks for besides watchMask: the root
// has no watched parent to report its own removal or rename.
const rootMask = unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// errOverflow is logged when the kernel's event queue overflowed.
var errOverflow = errors.New("inotify event queue overflow (fs.inotify.max_queued_events): events were lost")

// orphanGrace is how long a watched folder that left its place stays
// watched, once there is nothing left to read, while the watcher waits to
// learn where it went: the kernel queues the two halves of a rename one
// after the other, so a read may end between them.
const orphanGrace = 200 * time.Millisecond

// Watcher watches one source tree recursively. Its methods are safe for
// concurrent use.
//
// On Linux it reads inotify itself (see the package doc for why) and keeps
// its watches as a tree of folders, each known by its watch descriptor:
// the kernel's answer to "which watch is at this path" is the truth the
// tree is brought back to after every rename of a folder.
type Watcher struct {
	f       *os.File // the inotify instance
	fd      int
	root    string
	exclude func(rel string, isDir bool) bool
	notify  func(Event)
	log     *slog.Logger
	cancel  context.CancelFunc
	stop    func() bool // ends the AfterFunc that wakes a read on cancel
	done    chan struct{}
	closeMu sync.Mutex
	nwatch  atomic.Int64

	mountsChanged atomic.Bool // the mount table changed: see checkMounts

	// Owned by the goroutine (and by New before it starts).
	folders
	missing  int  // folders that could not be watched for lack of watches
	degraded bool // the watch limit was hit and reported
	full     bool // the kernel refused a watch in the current walk
	running  bool // the goroutine runs; before, events wait in early
	early    []Event
	hook     overflowHook
	closeErr error
	mounts   map[string]int // mount points below the root by mount ID, at the last look
}

// New watches o.Root and every folder below it that o.Exclude does not
// exclude, and starts the goroutine that passes [Event]s to o.Notify until
// ctx is cancelled or [Watcher.Close] is called. It returns an error if
// o.Notify is nil or the root itself cannot be watched; a folder below it
// that cannot be watched is logged and skipped (and reported with
// [Degraded] when the watch limit is reached).
func New(ctx context.Context, o Options) (*Watcher, error) {
	opt, err := o.check()
	if err != nil {
		return nil, err
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("start watcher: %w", os.NewSyscallError("inotify_init1", err))
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{
		f:       os.NewFile(uintptr(fd), "inotify"), // non-blocking: reads park in the runtime's poller and take deadlines
		fd:      fd,
		root:    opt.root,
		exclude: opt.exclude,
		notify:  opt.notify,
		log:     opt.log,
		cancel:  cancel,
		done:    make(chan struct{}),
		folders: newFolders(),
		hook:    overflowHook{name: os.Getenv(overflowEnv)},
	}
	// Mounts are looked at before the walk: one made in between is then
	// seen twice, never missed.
	watchMounts(w)
	w.mounts = mountsBelow(opt.root)
	// The root is watched by its path, following a symlink the user gave
	// as the source (the config resolves it anyway).
	wd, err := unix.InotifyAddWatch(fd, opt.root, watchMask|rootMask)
	if err != nil {
		unwatchMounts(w)
		cancel()
		w.f.Close()
		return nil, rootWatchError(opt.root, err)
	}
	w.top = w.newNode(int32(wd))
	w.walkAll(ctx, w.top, w.listRoot(), false)
	w.early, w.pending = w.pending, nil // the walk's Degraded, for the goroutine
	// Cancelling ends a read in progress; run closes the instance.
	w.stop = context.AfterFunc(ctx, func() { _ = w.f.SetReadDeadline(time.Now()) })
	go w.run(ctx)
	return w, nil
}

// ReportsClose reports whether watchers report [Closed] on this system:
// on Linux they do.
func ReportsClose() bool { return true }

// eventBuf holds one read: 64 KiB is ~2,000 events with short names.
const eventBuf = 64 << 10

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	defer func() {
		unwatchMounts(w)
		w.stop()
		err := w.f.Close()
		w.closeMu.Lock()
		w.closeErr = err
		w.closeMu.Unlock()
	}()
	w.running = true
	for _, ev := range w.early {
		w.send(ctx, ev)
	}
	w.early = nil
	buf := make([]byte, eventBuf)
	for {
		var deadline time.Time
		if next, ok := w.nextOrphanDeadline(); ok {
			deadline = next
		}
		_ = w.f.SetReadDeadline(deadline)
		// After the deadline is set: the cancel's past deadline (New's
		// AfterFunc) either came before it, and ctx says so now, or comes
		// after it and ends the read.
		if ctx.Err() != nil {
			return
		}
		if w.mountsChanged.Swap(false) {
			// After the deadline is set, for the same reason.
			w.checkMounts()
			w.reconcile(ctx)
			w.flush(ctx)
			continue
		}
		n, err := w.f.Read(buf)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			w.dropOrphans(time.Now())
			continue
		case err != nil:
			w.log.Error("reading inotify failed; changes are found by periodic rescans only", "err", err)
			return
		}
		w.handleBatch(ctx, buf[:n])
	}
}

// handleBatch handles the events of one read, then settles the tree's
// places (reconcile) before it passes the batch's events on: a DirAdded
// is reported only once the folder's watches exist.
func (w *Watcher) handleBatch(ctx context.Context, b []byte) {
	for len(b) >= unix.SizeofInotifyEvent {
		wd := int32(binary.NativeEndian.Uint32(b[0:4]))
		mask := binary.NativeEndian.Uint32(b[4:8])
		nameLen := int(binary.NativeEndian.Uint32(b[12:16]))
		end := unix.SizeofInotifyEvent + nameLen
		if end > len(b) {
			break // never happens: the kernel writes whole events
		}
		name := b[unix.SizeofInotifyEvent:end]
		for len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		b = b[end:]
		if mask&unix.IN_Q_OVERFLOW != 0 {
			w.lost(ctx, errOverflow)
			continue
		}
		w.handle(ctx, wd, mask, string(name))
	}
	w.reconcile(ctx)
	w.flush(ctx)
}

// handle handles one inotify event.
func (w *Watcher) handle(ctx context.Context, wd int32, mask uint32, name string) {
	n := w.wds[wd]
	if n == nil {
		return // a watch dropped already (its IN_IGNORED, or events queued before rm_watch)
	}
	if mask&unix.IN_IGNORED != 0 {
		w.forget(n)
		return
	}
	if mask&unix.IN_UNMOUNT != 0 {
		// A disk mounted on a folder of the tree was unmounted: the
		// folder below it (a different inode) is what the path shows now.
		if n.parent != nil {
			w.markDirty(n.parent)
		}
		return
	}
	if !w.attached(n) {
		// Where it is is not known yet: once it is found, a scan
		// replaces its events.
		for n.parent != nil {
			n = n.parent
		}
		n.lost = true
		return
	}
	if name == "" {
		// The folder itself: its parent reports the same with a name.
		// Only the root has no parent.
		switch {
		case n != w.top:
		case mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0:
			w.queue(Event{Rel: "", Kind: Removed})
		case mask&unix.IN_ATTRIB != 0:
			w.queue(Event{Rel: "", Kind: Attrib})
		}
		return
	}
	if tempname.Is(name) {
		return
	}
	rel := w.relOf(n, name)
	isDir := mask&unix.IN_ISDIR != 0
	if w.hook.name != "" {
		if drop, overflow := w.hook.filter(filepath.Join(w.root, filepath.FromSlash(rel)), mask&unix.IN_CREATE != 0, mask&unix.IN_DELETE != 0); drop {
			if overflow {
				w.lost(ctx, errOverflow)
			}
			return
		}
	}
	w.log.Debug("event", "path", rel, "mask", fmt.Sprintf("%#x", mask))
	switch {
	case mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
		if !isDir {
			if n.children[name] != nil {
				w.place(ctx, n, name, false) // a folder exchanged with this file went elsewhere
			}
			if !w.exclude(rel, false) {
				w.queue(Event{Rel: rel, Kind: Changed})
			}
			return
		}
		if w.exclude(rel, true) {
			return
		}
		w.place(ctx, n, name, true)
		w.queue(Event{Rel: rel, Kind: DirAdded})
	case mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0:
		if isDir || n.children[name] != nil {
			w.place(ctx, n, name, false)
		}
		if !w.exclude(rel, isDir) {
			w.queue(Event{Rel: rel, Kind: Removed})
		}
	case mask&unix.IN_MODIFY != 0:
		if !isDir && !w.exclude(rel, false) {
			w.queue(Event{Rel: rel, Kind: Written})
		}
	case mask&unix.IN_CLOSE_WRITE != 0:
		if !isDir && !w.exclude(rel, false) {
			w.queue(Event{Rel: rel, Kind: Closed})
		}
	case mask&unix.IN_ATTRIB != 0:
		if w.exclude(rel, isDir) {
			return
		}
		if isDir && n.children[name] == nil {
			// A folder that could not be watched (unreadable) may be
			// watchable after a chmod: try, and have it scanned if so.
			if x, _ := w.place(ctx, n, name, false); x != nil {
				w.queue(Event{Rel: rel, Kind: DirAdded})
				return
			}
		}
		w.queue(Event{Rel: rel, Kind: Attrib})
	}
}

// lost handles lost events: it brings the watches up to date with the
// tree, then asks for a rescan of the whole tree.
func (w *Watcher) lost(ctx context.Context, err error) {
	w.log.Warn("events lost, rescanning", "err", err)
	w.pending = w.pending[:0] // the rescan covers them
	w.resync(ctx)
	w.queue(Event{Kind: Rescan})
}

// queue adds ev to the current batch's events, which flush passes on.
func (w *Watcher) queue(ev Event) { w.pending = append(w.pending, ev) }

// flush passes the batch's events on.
func (w *Watcher) flush(ctx context.Context) {
	for _, ev := range w.pending {
		w.send(ctx, ev)
	}
	clear(w.pending)
	w.pending = w.pending[:0]
}

// openFolder opens the folder path for watching and listing without
// following a symlink at any component: a folder swapped for a symlink is
// never watched or listed through it.
func openFolder(path string) (int, error) {
	return nofollow.Open(path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
}

// addWatch watches the folder open as fd and returns its watch descriptor:
// the existing one if the folder is watched already. It names the folder
// through /proc/self/fd, so the watch is on the very folder that was
// opened (and will be listed), not on whatever the path shows by then.
func (w *Watcher) addWatch(fd int, path string) (int32, error) {
	wd, err := unix.InotifyAddWatch(w.fd, "/proc/self/fd/"+strconv.Itoa(fd), watchMask)
	if errors.Is(err, unix.ENOENT) && !procFD() {
		// No /proc (a chroot): by path, not following a final symlink.
		wd, err = unix.InotifyAddWatch(w.fd, path, watchMask|unix.IN_DONT_FOLLOW)
	}
	return int32(wd), err
}

// procFD reports whether /proc/self/fd is there.
var procFD = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
})
