package watcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// Kind says what happened to an [Event]'s path and what the consumer must do.
type Kind int

const (
	// Changed: a file was created or renamed to this path. Copy it (if it
	// differs).
	Changed Kind = iota + 1
	// Removed: the path is gone (removed or renamed away).
	Removed
	// DirAdded: a folder appeared and it and every folder below it are now
	// watched. Files created in it before the watches existed produced no
	// events, so the consumer must scan it.
	DirAdded
	// Rescan: events were lost. The consumer must rescan Rel ("" for the
	// whole tree). The watches are brought up to date before it is reported.
	Rescan
	// Degraded: the kernel refused a watch, so some folders are not watched.
	// The consumer should fall back to periodic rescans.
	Degraded
	// Attrib: only the metadata of a file or folder changed (mode, owner,
	// times). Bring its metadata in step.
	Attrib
	// Written: data was written to the file. Copy it, even where its size
	// and modification time look unchanged (a rewrite that restored them).
	// Where the watcher reports [Closed] ([ReportsClose]), the
	// writer may still be writing: the file is complete only once Closed
	// follows.
	Written
	// Closed: a process that had the file open for writing closed it
	// (IN_CLOSE_WRITE, Linux only). Its content is as that writer left
	// it; writes through a shared mapping produce no Written, only this.
	Closed
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
	case Attrib:
		return "attrib"
	case Written:
		return "written"
	case Closed:
		return "closed"
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
	// Notify receives every event, in order. It is required. It is called
	// from the watcher's goroutine only, one call at a time, and never after
	// [Watcher.Close] returns. It must not block: while it runs, nobody
	// reads fsnotify and the kernel queue fills (see the package doc). Hand
	// the event to a queue that returns at once, such as a mutex-protected
	// map keyed by path. It must not call Close.
	Notify func(Event)
	// Log receives the watcher's logs; nil discards them.
	Log *slog.Logger
}

// options is what New takes from Options: checked, with defaults.
type options struct {
	root    string
	exclude func(rel string, isDir bool) bool
	notify  func(Event)
	log     *slog.Logger
}

// check returns o checked and completed: Notify is required, Log and
// Exclude default to discarding and excluding nothing, and Root must be
// a folder.
func (o Options) check() (options, error) {
	if o.Notify == nil {
		return options{}, errors.New("watcher: Options.Notify is nil")
	}
	opt := options{root: filepath.Clean(o.Root), exclude: o.Exclude, notify: o.Notify, log: o.Log}
	if opt.log == nil {
		opt.log = slog.New(slog.DiscardHandler)
	}
	if opt.exclude == nil {
		opt.exclude = func(string, bool) bool { return false }
	}
	fi, err := os.Stat(opt.root)
	if err != nil {
		return options{}, fmt.Errorf("watch root: %w", err)
	}
	if !fi.IsDir() {
		return options{}, fmt.Errorf("watch root: %s is not a folder", opt.root)
	}
	return opt, nil
}

// rootWatchError is New's error when the kernel refuses to watch the
// root; for the watch limit it says which setting to raise.
func rootWatchError(root string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		setting, _, ok := watchLimit()
		if !ok {
			setting = "the watch limit"
		}
		return fmt.Errorf("watch root %s: %w; raise %s with sysctl", root, err, setting)
	}
	return fmt.Errorf("watch root %s: %w", root, err)
}

// Watches returns the number of folders watched now.
func (w *Watcher) Watches() int { return int(w.nwatch.Load()) }

// Close stops the watcher and waits for its goroutine; Notify is not called
// once it returns. It returns the error of closing the kernel watch
// (inotify instance or fsnotify), and may be called more than once and
// from several goroutines.
func (w *Watcher) Close() error {
	w.cancel()
	<-w.done
	w.closeMu.Lock()
	defer w.closeMu.Unlock()
	return w.closeErr
}

// send passes ev to Notify unless the watcher is stopping. Events of New's
// own walk wait for the goroutine, which alone calls Notify.
func (w *Watcher) send(ctx context.Context, ev Event) {
	switch {
	case ctx.Err() != nil:
	case !w.running:
		w.early = append(w.early, ev)
	default:
		w.notify(ev)
	}
}
