package sync

import (
	"testing"

	"github.com/copyd/copyd/index"
	"golang.org/x/sys/unix"
)

// TestJudge is the quick check with memory, one changed field at a time.
func TestJudge(t *testing.T) {
	rec := index.Record{Kind: index.File,
		Src: index.Source{Dev: 1, Ino: 10, Size: 100, MtimeNs: 5e9, CtimeNs: 6e9, Mode: unix.S_IFREG | 0o644},
		Dst: index.Dest{Ino: 20, Size: 100, MtimeNs: 5e9, CtimeNs: 7e9}}
	srcStat := func(f func(*unix.Stat_t)) *statInfo {
		st := &unix.Stat_t{Dev: 1, Ino: 10, Size: 100, Mtim: unix.NsecToTimespec(5e9), Ctim: unix.NsecToTimespec(6e9), Mode: unix.S_IFREG | 0o644}
		f(st)
		return &statInfo{name: "f", st: st}
	}
	dstStat := func(f func(*unix.Stat_t)) *statInfo {
		st := &unix.Stat_t{Ino: 20, Size: 100, Mtim: unix.NsecToTimespec(5e9), Ctim: unix.NsecToTimespec(7e9), Mode: unix.S_IFREG | 0o644}
		f(st)
		return &statInfo{name: "f", st: st}
	}
	same := func(*unix.Stat_t) {}
	v1 := rec
	v1.Dst.CtimeNs = 0
	racy := rec
	racy.Racy = true
	tests := []struct {
		name     string
		rec      index.Record
		src, dst func(*unix.Stat_t)
		want     fileNeed
	}{
		{"both as recorded", rec, same, same, needMetadata},
		{"racy record", racy, same, same, needCompare},
		{"source rewritten, mtime put back (new ctime)", rec, func(st *unix.Stat_t) { st.Ctim = unix.NsecToTimespec(8e9) }, same, needCompare},
		{"source is another inode (swap, rename over)", rec, func(st *unix.Stat_t) { st.Ino = 11 }, same, needCopy},
		{"source on another disk", rec, func(st *unix.Stat_t) { st.Dev = 2 }, same, needCopy},
		{"source of another size", rec, func(st *unix.Stat_t) { st.Size = 101 }, same, needCopy},
		{"destination rewritten in place, size and mtime put back (cp -p)", rec, same, func(st *unix.Stat_t) { st.Ctim = unix.NsecToTimespec(9e9) }, needCompare},
		{"destination replaced (another inode)", rec, same, func(st *unix.Stat_t) { st.Ino = 21 }, needCopy},
		{"destination of another mtime", rec, same, func(st *unix.Stat_t) { st.Mtim = unix.NsecToTimespec(4e9) }, needCopy},
		{"version 1 record: destination ctime unknown", v1, same, func(st *unix.Stat_t) { st.Ctim = unix.NsecToTimespec(9e9) }, needMetadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := judge(srcStat(tt.src), dstStat(tt.dst), &tt.rec); got != tt.want {
				t.Errorf("judge() = %v, want %v", got, tt.want)
			}
		})
	}
}
