package sync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"sync/atomic"
	"syscall"

	"github.com/copyd/copyd/internal/tempname"
)

// archiveStamp is the suffix format of archived names: "report.pdf" becomes
// "report.pdf.2026-11-27T055300Z" (UTC, no colons: valid on every OS).
const archiveStamp = "2006-01-02T150405Z"

// removeOrArchive takes the destination entry rel out of the way: into the
// archive folder when the pair has one, otherwise removed (a folder with
// everything in it; symlinks are removed, never followed).
func (r *pairRun) removeOrArchive(ctx context.Context, rel string) error {
	p := r.dstPath(rel)
	if r.pair.Archive == "" {
		err := removeAllPath(p)
		if err == nil {
			r.forget(rel)
		}
		return err
	}
	to, err := r.archivePath(rel)
	if err != nil {
		return err
	}
	if err := moveTo(ctx, p, to); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	r.forget(rel)
	r.progress.Archived.Add(1)
	r.log.Debug("archived", "path", rel, "to", to)
	return nil
}

// archivePath returns a free name for rel in the archive folder, making its
// parent folders.
func (r *pairRun) archivePath(rel string) (string, error) {
	full := filepath.Join(r.pair.Archive, filepath.FromSlash(rel))
	dir, name := filepath.Dir(full), filepath.Base(full)
	if err := mkdirAllPath(dir, 0o755); err != nil {
		return "", err
	}
	when := r.kind.archiveTime(r.started)
	stamp := "." + when.UTC().Format(archiveStamp)
	for i := 0; ; i++ {
		suffix := stamp
		if i > 0 {
			suffix = fmt.Sprintf("%s-%d", stamp, i)
		}
		// A long name is cut so that name and suffix fit in one path element.
		p := filepath.Join(dir, tempname.Shorten(name, tempname.MaxNameLen-len(suffix))+suffix)
		_, err := lstatPath(p)
		if errIsNotExist(err) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
	}
}

// moveTo renames from to to; across filesystems it copies (files and
// symlinks atomically, folders entry by entry) and then removes from.
func moveTo(ctx context.Context, from, to string) error {
	err := renamePath(from, to)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	fi, err := lstatPath(from)
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		if err := mkdirPath(to, fi.Mode().Perm()|0o700); err != nil {
			return err
		}
		entries, err := readDir(from)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := moveTo(ctx, filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
				return err
			}
		}
		return removePath(from)
	case fi.Mode()&fs.ModeSymlink != 0:
		err = copySymlink(from, to, writeOptions{})
	case fi.Mode().IsRegular():
		_, err = copyFile(ctx, from, to, writeOptions{fsync: true})
	default:
		return removePath(from) // a FIFO or the like: nothing to keep
	}
	if err != nil {
		return err
	}
	return removePath(from)
}

// deleteExtras removes (or archives) what the destination has and the
// source does not, unless a brake is on: nothing is deleted while the
// source root is empty and the destination is not, or after a source folder
// could not be read (its entries would look deleted). It returns how many
// entries it removed.
func (r *pairRun) deleteExtras(ctx context.Context) int64 {
	if !r.pair.Delete || len(r.extras) == 0 {
		return 0
	}
	switch {
	case r.brake != "":
		r.log.Error("deleting nothing: "+r.brake+"; is the source disk mounted? copyd deletes again once the source has files",
			"entries", len(r.extras))
		return 0
	case r.readFailed:
		r.log.Error("deleting nothing: a source folder could not be read, so its files would look deleted; fix the error above",
			"entries", len(r.extras))
		return 0
	case r.isPaused():
		return 0
	}
	var deleted atomic.Int64
	sort.Slice(r.extras, func(i, j int) bool { return r.extras[i].rel < r.extras[j].rel })
	for _, x := range r.extras {
		if r.dryRun {
			action := "delete"
			if r.pair.Archive != "" {
				action = "archive"
			}
			r.planLine(action, x.rel)
			r.progress.Deleted.Add(1)
			deleted.Add(1)
			continue
		}
		r.submit(ctx, func(ctx context.Context) {
			if r.retry(ctx, "delete", x.rel, func() error { return r.removeExtra(ctx, x.rel, x.isDir) }) {
				x.in.changed.Store(true)
				r.progress.Deleted.Add(1)
				deleted.Add(1)
				r.log.Debug("deleted", "path", x.rel)
			}
		})
	}
	r.queue.Wait()
	return deleted.Load()
}

// removeExtra takes the extra destination entry rel out of the way like
// removeOrArchive, but keeps the excluded entries inside a folder, and the
// folders that lead to them: excluded paths are neither copied nor deleted.
//
// An entry whose source has come back since the scan (the daemon copies it
// meanwhile) is left alone.
func (r *pairRun) removeExtra(ctx context.Context, rel string, isDir bool) error {
	if _, err := lstatPath(r.srcPath(rel)); err == nil {
		return nil
	}
	if !isDir || !r.holdsExcluded(rel) {
		return r.removeOrArchive(ctx, rel)
	}
	entries, err := readDir(r.dstPath(rel))
	if err != nil {
		return err
	}
	for _, e := range entries {
		child := relJoin(rel, e.Name())
		if r.excl.Excluded(child, e.IsDir()) {
			continue
		}
		if err := r.removeExtra(ctx, child, e.IsDir()); err != nil {
			return err
		}
	}
	return nil
}

// holdsExcluded reports whether the destination folder rel holds an
// excluded entry at any depth (true when that cannot be read: keep it).
func (r *pairRun) holdsExcluded(rel string) bool {
	if r.excl.Empty() {
		return false
	}
	entries, err := readDir(r.dstPath(rel))
	if err != nil {
		return true
	}
	for _, e := range entries {
		child := relJoin(rel, e.Name())
		if r.excl.Excluded(child, e.IsDir()) || e.IsDir() && r.holdsExcluded(child) {
			return true
		}
	}
	return false
}
