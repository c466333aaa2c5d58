package sync

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// listDir lists a folder with an lstat of every entry. The stats are taken
// relative to the open folder (fstatat), which spares the kernel a walk of
// the whole path per file: a no-op pass over 100,000 files is mostly these
// calls. Entries that vanish meanwhile are left out.
func listDir(dir string) ([]entry, error) {
	f, err := os.Open(dir)
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
