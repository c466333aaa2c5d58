//go:build !linux

package watcher

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// addTree watches the folder rel (unless self is false) and every folder
// below it that is not excluded. With again, it also adds the folders it
// already watches: inotify then returns the existing watch, or a new one if
// the folder was replaced while its events were lost. It logs the watch
// limit once and reports it with Degraded.
//
// The walk runs on the watcher's goroutine, so fsnotify is not read while
// a big tree is walked; the kernel queues the events meanwhile, and if its
// queue overflows the loss becomes a Rescan.
func (w *Watcher) addTree(ctx context.Context, rel string, self, again bool) {
	top := filepath.Join(w.root, filepath.FromSlash(rel))
	full := false // the kernel refused a watch during this walk
	fi, err := os.Lstat(top)
	switch {
	case err != nil:
		w.cannotRead(top, err)
		return
	case !fi.IsDir():
		return
	}
	// Depth first, with a stack: a folder is watched before it is read, so
	// a subfolder made meanwhile is either in the listing or an event.
	stack := []string{top}
	for len(stack) > 0 {
		if ctx.Err() != nil {
			return
		}
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !w.watchOne(p, p == top && !self, again, &full) {
			continue
		}
		subs, err := subfolders(p)
		if err != nil {
			w.cannotRead(p, err)
			continue
		}
		for _, name := range subs {
			stack = append(stack, filepath.Join(p, name))
		}
	}
	if full && !w.degraded {
		w.degraded = true
		logLimit(w.log, len(w.watched), w.missing)
		w.send(ctx, Event{Kind: Degraded})
	}
}

// watchOne watches the folder p (unless skip, the walk's top when self is
// false) and reports whether the walk goes on below it.
func (w *Watcher) watchOne(p string, skip, again bool, full *bool) bool {
	if skip {
		return true
	}
	r := w.rel(p)
	if w.exclude(r, true) {
		w.skipped[r] = true
		return false
	}
	known := w.watched[r]
	switch {
	case known && !again:
		return true
	case *full && !known:
		w.missing++
		return true
	}
	if err := w.fsw.Add(p); err != nil {
		if known {
			// The folder was replaced by one that cannot be watched, or
			// is gone; its old watch died with the old folder.
			w.unwatchTree(r)
		}
		switch {
		case errors.Is(err, syscall.ENOSPC):
			*full = true
			w.missing++
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOENT):
			w.log.Debug("folder vanished before watch", "path", r)
			return false
		default:
			w.log.Warn("cannot watch folder", "path", r, "err", err)
			w.refused[r] = true
		}
		return true
	}
	if !known {
		w.watched[r] = true
		w.nwatch.Add(1)
	}
	return true
}

// cannotRead logs a folder the walk could not read (or that vanished).
func (w *Watcher) cannotRead(p string, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		w.log.Debug("folder vanished before watch", "path", w.rel(p))
		return
	}
	w.log.Warn("cannot read folder", "path", w.rel(p), "err", err)
}

// resync brings the watches in line with the tree after events were lost:
// folders created or moved in meanwhile are watched, folders removed or
// moved away are forgotten, and folders replaced are watched again.
func (w *Watcher) resync(ctx context.Context) {
	// A folder's second Rename (see handle) comes right after its first, so
	// any still expected was lost with the rest.
	clear(w.gone)
	clear(w.skipped)
	clear(w.refused)
	for r := range w.watched {
		if r == "" {
			continue
		}
		if fi, err := os.Lstat(filepath.Join(w.root, filepath.FromSlash(r))); err != nil || !fi.IsDir() {
			w.unwatchTree(r)
		}
	}
	w.missing = 0
	w.addTree(ctx, "", false, true)
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
	for _, m := range []map[string]bool{w.skipped, w.refused} {
		for r := range m {
			if rel == "" || strings.HasPrefix(r, rel+"/") {
				delete(m, r)
			}
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
