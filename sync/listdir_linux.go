package sync

import (
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/copyd/copyd/index"
	"github.com/copyd/copyd/internal/nofollow"
	"golang.org/x/sys/unix"
)

// listDir lists a folder with an lstat of every entry. The stats are taken
// relative to the open folder (fstatat), which spares the kernel a walk of
// the whole path per file: a no-op pass over 100,000 files is mostly these
// calls. Entries that vanish meanwhile are left out.
func listDir(dir string) ([]entry, error) {
	f, err := openDirPath(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	out := make([]entry, 0, len(names))
	for _, name := range names {
		st := new(unix.Stat_t)
		err := fstatat(fd, name, st)
		switch {
		case errors.Is(err, unix.ENOENT):
			continue
		case err != nil:
			out = append(out, entry{name: name, err: &fs.PathError{Op: "lstat", Path: filepath.Join(dir, name), Err: err}})
		default:
			out = append(out, entry{name: name, info: &statInfo{name: name, st: st}})
		}
	}
	return out, nil
}

// fstatat is lstat relative to the folder open as dirfd.
func fstatat(dirfd int, name string, st *unix.Stat_t) error {
	for {
		err := unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// statInfo is an fs.FileInfo made from a raw stat, like the os package's;
// Sys returns the *unix.Stat_t.
type statInfo struct {
	name string
	st   *unix.Stat_t
}

func (s *statInfo) Name() string       { return s.name }
func (s *statInfo) Size() int64        { return s.st.Size }
func (s *statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s *statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s *statInfo) Sys() any           { return s.st }

func (s *statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if s.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// listRecorded lists a destination folder whose entries have not changed
// since its records were complete (its ctime is the recorded one, see
// dirUnchanged): the names are the records', so the folder is not read.
// Files are taken from their records; folders and racy records are
// stat'ed.
func listRecorded(dir string, recs map[string]index.Record) ([]entry, error) {
	out := make([]entry, 0, len(recs))
	fd := -1
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	for nm, rec := range recs {
		if rec.Kind == index.File && !rec.Racy {
			out = append(out, entry{name: nm, info: &statInfo{name: nm, st: recordStat(rec)}})
			continue
		}
		if fd < 0 {
			var err error
			if fd, err = nofollow.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0); err != nil {
				fd = -1
				return nil, &fs.PathError{Op: "open", Path: dir, Err: loopErr(err)}
			}
		}
		st := new(unix.Stat_t)
		switch err := fstatat(fd, nm, st); {
		case errors.Is(err, unix.ENOENT):
		case err != nil:
			out = append(out, entry{name: nm, err: &fs.PathError{Op: "lstat", Path: filepath.Join(dir, nm), Err: err}})
		default:
			out = append(out, entry{name: nm, info: &statInfo{name: nm, st: st}})
		}
	}
	return out, nil
}

// folderInfo is the part of a folder's stat that finishDir and the
// index need (mode, owner, times, identity), kept for every folder of a
// pass until its end: a third of a full stat's size, which on a tree of
// 100,000 folders is ~20 MB less heap. Sys builds the raw stat again.
// The mtime stays in seconds and nanoseconds: int64 nanoseconds end in
// 2262, and touch -d gives a folder any time.
type folderInfo struct {
	mode          fs.FileMode
	uid, gid      uint32
	rawMode       uint32
	dev, ino      uint64
	mtime         unix.Timespec
	ctimeNs, size int64
}

// compactFolder returns fi as a folderInfo where it carries a raw stat,
// else fi itself (nil stays nil).
func compactFolder(fi fs.FileInfo) fs.FileInfo {
	if fi == nil {
		return nil
	}
	st, ok := fi.Sys().(*unix.Stat_t)
	if !ok {
		return fi
	}
	return &folderInfo{mode: fi.Mode(), uid: st.Uid, gid: st.Gid, rawMode: st.Mode, dev: st.Dev, ino: st.Ino,
		mtime: st.Mtim, ctimeNs: st.Ctim.Nano(), size: st.Size}
}

func (f *folderInfo) Name() string             { return "" }
func (f *folderInfo) Size() int64              { return f.size }
func (f *folderInfo) Mode() fs.FileMode        { return f.mode }
func (f *folderInfo) ModTime() time.Time       { return time.Unix(f.mtime.Unix()) }
func (f *folderInfo) IsDir() bool              { return f.mode.IsDir() }
func (f *folderInfo) owner() (uid, gid uint32) { return f.uid, f.gid }
func (f *folderInfo) Sys() any {
	return &unix.Stat_t{Dev: f.dev, Ino: f.ino, Mode: f.rawMode, Uid: f.uid, Gid: f.gid, Size: f.size,
		Mtim: f.mtime, Ctim: unix.NsecToTimespec(f.ctimeNs)}
}

// recordStat is the stat a destination file has by its record: the inode,
// size, mtime and ctime copyd made, with the source's mode and owner it set.
func recordStat(rec index.Record) *unix.Stat_t {
	return &unix.Stat_t{
		Ino:  rec.Dst.Ino,
		Size: rec.Dst.Size,
		Mtim: unix.NsecToTimespec(rec.Dst.MtimeNs),
		Ctim: unix.NsecToTimespec(rec.Dst.CtimeNs),
		Mode: unix.S_IFREG | rec.Src.Mode&^unix.S_IFMT,
		Uid:  rec.Src.UID,
		Gid:  rec.Src.GID,
	}
}

// lstatPath is lstat(2) of path without following a symlink at any
// component (see fspath_unix.go).
func lstatPath(path string) (fs.FileInfo, error) {
	st := new(unix.Stat_t)
	if err := nofollow.Lstat(path, st); err != nil {
		return nil, err
	}
	return &statInfo{name: filepath.Base(path), st: st}, nil
}

// setFolderTime sets the open folder's mtime and leaves its atime. The
// time goes in seconds and nanoseconds (mtime.UnixNano ends in 2262).
func setFolderTime(h folderHandle, mtime time.Time) error {
	ts, err := unix.TimeToTimespec(mtime)
	if err == nil {
		err = futimens(int(h.f.Fd()), ts)
	}
	if err != nil {
		return &fs.PathError{Op: "set times", Path: h.path, Err: err}
	}
	return nil
}
