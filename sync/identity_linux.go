package sync

import (
	"io/fs"
	"syscall"

	"github.com/copyd/copyd/index"
	"golang.org/x/sys/unix"
)

// sourceIdentity returns what the index records of a source entry; ok is
// false where fi carries no raw stat.
func sourceIdentity(fi fs.FileInfo) (id index.Source, ok bool) {
	if f, ok := fi.(*folderInfo); ok {
		return index.Source{Dev: f.dev, Ino: f.ino, Size: f.size, MtimeNs: f.mtime.Nano(), CtimeNs: f.ctimeNs,
			Mode: f.rawMode, UID: f.uid, GID: f.gid}, true
	}
	switch st := fi.Sys().(type) {
	case *unix.Stat_t: // from listDir and copyFile
		return sourceFromStat(st), true
	case *syscall.Stat_t: // from the os package
		return index.Source{Dev: st.Dev, Ino: st.Ino, Size: st.Size, MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano(),
			Mode: st.Mode, UID: st.Uid, GID: st.Gid}, true
	}
	return index.Source{}, false
}

func sourceFromStat(st *unix.Stat_t) index.Source {
	return index.Source{Dev: st.Dev, Ino: st.Ino, Size: st.Size, MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano(),
		Mode: st.Mode, UID: st.Uid, GID: st.Gid}
}

// destIdentity returns what the index records of a destination entry.
func destIdentity(fi fs.FileInfo) (index.Dest, bool) {
	if f, ok := fi.(*folderInfo); ok {
		return index.Dest{Ino: f.ino, Size: f.size, MtimeNs: f.mtime.Nano(), CtimeNs: f.ctimeNs}, true
	}
	switch st := fi.Sys().(type) {
	case *unix.Stat_t:
		return index.Dest{Ino: st.Ino, Size: st.Size, MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano()}, true
	case *syscall.Stat_t:
		return index.Dest{Ino: st.Ino, Size: st.Size, MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano()}, true
	}
	return index.Dest{}, false
}

func destFromStat(st *unix.Stat_t) index.Dest {
	return index.Dest{Ino: st.Ino, Size: st.Size, MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano()}
}
