//go:build !linux

package watcher

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/copyd/copyd/internal/tempname"
	"github.com/fsnotify/fsnotify"
)

// Watcher watches one source tree recursively. Its methods are safe for
// concurrent use.
type Watcher struct {
	fsw     *fsnotify.Watcher
	root    string
	exclude func(rel string, isDir bool) bool
	notify  func(Event)
	log     *slog.Logger
	cancel  context.CancelFunc
	done    chan struct{}
	closeMu sync.Mutex
	nwatch  atomic.Int64

	// Owned by the goroutine (and by New before it starts).
	watched  map[string]bool // rel of every watched folder
	skipped  map[string]bool // rel of excluded folders seen, to tell a removed folder from a file
	refused  map[string]bool // rel of folders the kernel would not watch (unreadable): watched once their mode changes
	gone     map[string]bool // rel of watched folders reported Removed, until the path is created again
	missing  int             // folders that could not be watched for lack of watches
	degraded bool            // the watch limit was hit and reported
	running  bool            // the goroutine runs; before, events wait in early
	early    []Event         // events of New's walk, for the goroutine to pass on
	hook     overflowHook
	closeErr error
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
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("start watcher: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{
		fsw:     fsw,
		root:    opt.root,
		exclude: opt.exclude,
		notify:  opt.notify,
		log:     opt.log,
		cancel:  cancel,
		done:    make(chan struct{}),
		watched: make(map[string]bool),
		skipped: make(map[string]bool),
		refused: make(map[string]bool),
		gone:    make(map[string]bool),
		hook:    overflowHook{name: os.Getenv(overflowEnv)},
	}
	if err := fsw.Add(opt.root); err != nil {
		cancel()
		fsw.Close()
		return nil, rootWatchError(opt.root, err)
	}
	w.watched[""] = true
	w.nwatch.Store(1)
	w.addTree(ctx, "", false, false)
	go w.run(ctx)
	return w, nil
}

// ReportsClose reports whether watchers report [Closed] on this system:
// not with fsnotify, which does not report a writer's close.
func ReportsClose() bool { return false }

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	defer func() {
		err := w.fsw.Close()
		w.closeMu.Lock()
		w.closeErr = err
		w.closeMu.Unlock()
	}()
	w.running = true
	for _, ev := range w.early {
		w.send(ctx, ev)
	}
	w.early = nil
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if drop, overflow := w.hook.filter(ev.Name, ev.Has(fsnotify.Create), ev.Has(fsnotify.Remove)); drop {
				if overflow {
					w.lost(ctx, fsnotify.ErrEventOverflow)
				}
				continue
			}
			w.handle(ctx, ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// ErrEventOverflow or a read error: events were lost.
			w.lost(ctx, err)
		}
	}
}

// lost handles lost events: it brings the watches up to date, then asks for
// a rescan of the whole tree.
func (w *Watcher) lost(ctx context.Context, err error) {
	w.log.Warn("events lost, rescanning", "err", err)
	w.resync(ctx)
	w.send(ctx, Event{Kind: Rescan})
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
			w.addTree(ctx, rel, true, false)
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
		isDir := w.watched[rel] || w.skipped[rel] || w.refused[rel]
		delete(w.skipped, rel)
		delete(w.refused, rel)
		if w.watched[rel] {
			w.unwatchTree(rel)
			w.gone[rel] = true
		}
		if !w.exclude(rel, isDir) {
			w.send(ctx, Event{Rel: rel, Kind: Removed})
		}
	case ev.Has(fsnotify.Write), ev.Has(fsnotify.Chmod):
		if w.refused[rel] {
			// An unreadable folder's mode changed: watch it (and what is
			// below it) now if the kernel lets us, and have it scanned.
			delete(w.refused, rel)
			w.addTree(ctx, rel, true, false)
			if w.watched[rel] {
				w.send(ctx, Event{Rel: rel, Kind: DirAdded})
				return
			}
		}
		isDir := w.watched[rel] || w.skipped[rel] || w.refused[rel]
		if !w.skipped[rel] && !w.exclude(rel, isDir) {
			kind := Written
			if !ev.Has(fsnotify.Write) {
				kind = Attrib
			}
			w.send(ctx, Event{Rel: rel, Kind: kind})
		}
	}
}
