package watcher

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/copyd/copyd/internal/tempname"
	"github.com/fsnotify/fsnotify"
)

// Kind says what happened to an [Event]'s path and what the consumer must do.
type Kind int

const (
	// Changed: a file was created, written, had its mode changed or was
	// renamed to this path. Copy it.
	Changed Kind = iota + 1
	// Removed: the path is gone (removed or renamed away).
	Removed
	// DirAdded: a folder appeared and it and every folder below it are now
	// watched. Files created in it before the watches existed produced no
	// events, so the consumer must scan it.
	DirAdded
	// Rescan: events were lost. The consumer must rescan Rel ("" for the
	// whole tree).
	Rescan
	// Degraded: the kernel refused a watch, so some folders are not watched.
	// The consumer should fall back to periodic rescans.
	Degraded
)

// String returns the kind's name in lowercase.
func (k Kind) String() string {
	switch k {
	case Changed:
		return "changed"
	case Removed:
		return "removed"
	case DirAdded:
		return "dir added"
	case Rescan:
		return "rescan"
	case Degraded:
		return "degraded"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Event is one change below the root.
type Event struct {
	Rel  string // slash-separated, relative to the root; "" is the root itself
	Kind Kind
}

// Options configures [New].
type Options struct {
	// Root is the absolute path of the source folder to watch.
	Root string
	// Exclude reports whether the slash-separated path rel is excluded.
	// Excluded folders are not watched and excluded paths produce no events.
	// Nil excludes nothing. It is called from the watcher's goroutine only.
	Exclude func(rel string, isDir bool) bool
	// Log receives the watcher's logs; nil discards them.
	Log *slog.Logger
}

// eventBuffer is the capacity of the Events channel: the reader must not stall
// fsnotify while the consumer is busy.
const eventBuffer = 4096

// Watcher watches one source tree recursively. Its methods are safe for
// concurrent use.
type Watcher struct {
	fsw     *fsnotify.Watcher
	root    string
	exclude func(rel string, isDir bool) bool
	log     *slog.Logger
	out     chan Event
	cancel  context.CancelFunc
	done    chan struct{}
	closeMu sync.Mutex
	nwatch  atomic.Int64

	// Owned by the goroutine (and by New before it starts).
	watched  map[string]bool // rel of every watched folder
	skipped  map[string]bool // rel of excluded folders seen, to tell a removed folder from a file
	gone     map[string]bool // rel of watched folders reported Removed, until the path is created again
	missing  int             // folders that could not be watched for lack of watches
	degraded bool            // the watch limit was hit and reported
	closeErr error
}

// New watches o.Root and every folder below it that o.Exclude does not
// exclude, and starts the goroutine that sends [Event]s until ctx is cancelled
// or [Watcher.Close] is called. It returns an error only if the root itself
// cannot be watched; a folder below it that cannot be watched is logged and
// skipped (and reported with [Degraded] when the watch limit is reached).
func New(ctx context.Context, o Options) (*Watcher, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	exclude := o.Exclude
	if exclude == nil {
		exclude = func(string, bool) bool { return false }
	}
	root := filepath.Clean(o.Root)
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("watch root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("watch root: %s is not a folder", root)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("start watcher: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{
		fsw:     fsw,
		root:    root,
		exclude: exclude,
		log:     log,
		out:     make(chan Event, eventBuffer),
		cancel:  cancel,
		done:    make(chan struct{}),
		watched: make(map[string]bool),
		skipped: make(map[string]bool),
		gone:    make(map[string]bool),
	}
	if err := fsw.Add(root); err != nil {
		cancel()
		fsw.Close()
		if errors.Is(err, syscall.ENOSPC) {
			return nil, fmt.Errorf("watch root %s: %w; raise fs.inotify.max_user_watches with sysctl", root, err)
		}
		return nil, fmt.Errorf("watch root %s: %w", root, err)
	}
	w.watched[""] = true
	w.nwatch.Store(1)
	w.addTree(ctx, "", false)
	go w.run(ctx)
	return w, nil
}

// Events returns the channel of events. It is closed when the watcher stops.
func (w *Watcher) Events() <-chan Event { return w.out }

// Watches returns the number of folders watched now.
func (w *Watcher) Watches() int { return int(w.nwatch.Load()) }

// Close stops the watcher and waits for its goroutine; Events is closed when
// it returns. It returns the error of closing fsnotify, and may be called
// more than once.
func (w *Watcher) Close() error {
	w.cancel()
	<-w.done
	w.closeMu.Lock()
	defer w.closeMu.Unlock()
	return w.closeErr
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	defer close(w.out) // the sender closes
	defer func() {
		err := w.fsw.Close()
		w.closeMu.Lock()
		w.closeErr = err
		w.closeMu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.handle(ctx, ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// ErrEventOverflow or a read error: events were lost.
			w.log.Warn("events lost, rescanning", "err", err)
			w.send(ctx, Event{Kind: Rescan})
		}
	}
}

func (w *Watcher) handle(ctx context.Context, ev fsnotify.Event) {
	rel, err := filepath.Rel(w.root, ev.Name)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return
	}
	rel = filepath.ToSlash(rel)
	if rel == "." {
		rel = ""
	}
	if tempname.Is(path.Base(rel)) {
		return
	}
	w.log.Debug("event", "path", rel, "op", ev.Op.String())
	switch {
	case ev.Has(fsnotify.Create):
		delete(w.gone, rel)
		fi, err := os.Lstat(ev.Name)
		if err != nil {
			return // gone already: its Remove or Rename event follows
		}
		if fi.IsDir() {
			if w.exclude(rel, true) {
				w.skipped[rel] = true
				return
			}
			w.addTree(ctx, rel, true)
			w.send(ctx, Event{Rel: rel, Kind: DirAdded})
			return
		}
		if !w.exclude(rel, false) {
			w.send(ctx, Event{Rel: rel, Kind: Changed})
		}
	case ev.Has(fsnotify.Remove), ev.Has(fsnotify.Rename):
		if w.gone[rel] {
			// fsnotify reports a watched folder moved away twice: from its
			// parent (IN_MOVED_FROM) and from its own watch (IN_MOVE_SELF).
			delete(w.gone, rel)
			return
		}
		isDir := w.watched[rel] || w.skipped[rel]
		delete(w.skipped, rel)
		if w.watched[rel] {
			w.unwatchTree(rel)
			w.gone[rel] = true
		}
		if !w.exclude(rel, isDir) {
			w.send(ctx, Event{Rel: rel, Kind: Removed})
		}
	case ev.Has(fsnotify.Write), ev.Has(fsnotify.Chmod):
		isDir := w.watched[rel] || w.skipped[rel]
		if !w.skipped[rel] && !w.exclude(rel, isDir) {
			w.send(ctx, Event{Rel: rel, Kind: Changed})
		}
	}
}

// addTree watches the folder rel (unless self is false) and every folder
// below it that is not excluded. It logs the watch limit once and reports
// it with Degraded.
func (w *Watcher) addTree(ctx context.Context, rel string, self bool) {
	top := filepath.Join(w.root, filepath.FromSlash(rel))
	full := false // the kernel refused a watch during this walk
	_ = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				w.log.Debug("folder vanished before watch", "path", w.rel(p))
			} else {
				w.log.Warn("cannot read folder", "path", w.rel(p), "err", err)
			}
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		r := w.rel(p)
		if p == top && !self {
			return nil
		}
		if w.exclude(r, true) {
			w.skipped[r] = true
			return fs.SkipDir
		}
		if w.watched[r] {
			return nil
		}
		if full {
			w.missing++
			return nil
		}
		if err := w.fsw.Add(p); err != nil {
			switch {
			case errors.Is(err, syscall.ENOSPC):
				full = true
				w.missing++
			case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOENT):
				w.log.Debug("folder vanished before watch", "path", r)
				return fs.SkipDir
			default:
				w.log.Warn("cannot watch folder", "path", r, "err", err)
			}
			return nil
		}
		w.watched[r] = true
		w.nwatch.Add(1)
		return nil
	})
	if full && !w.degraded {
		w.degraded = true
		w.logLimit()
		w.send(ctx, Event{Kind: Degraded})
	}
}

// logLimit logs the one error that explains a refused watch and how to fix it.
func (w *Watcher) logLimit() {
	need := len(w.watched) + w.missing
	cur, ok := watchLimit()
	if !ok {
		w.log.Error("watch limit reached; unwatched folders are found by periodic rescans",
			"folders", need, "watched", len(w.watched))
		return
	}
	n := max(2*cur, 2*need)
	w.log.Error("inotify watch limit reached; unwatched folders are found by periodic rescans",
		"setting", "fs.inotify.max_user_watches",
		"current", cur,
		"folders", need,
		"watched", len(w.watched),
		"fix", fmt.Sprintf("run 'sysctl fs.inotify.max_user_watches=%d' as root, and keep it with 'echo fs.inotify.max_user_watches=%d > /etc/sysctl.d/90-copyd.conf'", n, n))
}

// unwatchTree drops the watches of rel and every folder below it. A folder
// renamed away keeps its inotify watches under the old paths, and a folder
// renamed inside the tree is watched again under its new path, which fsnotify
// would file under the old path while the old watch exists.
func (w *Watcher) unwatchTree(rel string) {
	for r := range w.watched {
		if r == rel || rel == "" || strings.HasPrefix(r, rel+"/") {
			_ = w.fsw.Remove(filepath.Join(w.root, filepath.FromSlash(r))) // a deleted folder's watch is already gone
			delete(w.watched, r)
			w.nwatch.Add(-1)
		}
	}
	for r := range w.skipped {
		if rel == "" || strings.HasPrefix(r, rel+"/") {
			delete(w.skipped, r)
		}
	}
}

func (w *Watcher) rel(p string) string {
	r, err := filepath.Rel(w.root, p)
	if err != nil || r == "." {
		return ""
	}
	return filepath.ToSlash(r)
}

func (w *Watcher) send(ctx context.Context, ev Event) {
	select {
	case w.out <- ev:
	case <-ctx.Done():
	}
}
