package index

import (
	"encoding/binary"
	"errors"
)

// Kind is what a destination entry is.
type Kind uint8

// The kinds of entries a record describes.
const (
	File Kind = 1 + iota
	Symlink
	Dir
)

// Source identifies a source entry as copyd last read it. Two equal
// Sources of a regular file on the same filesystem mean unchanged content:
// every write, truncate, chmod, chown or rename moves ctime, which no
// program can set back.
type Source struct {
	Dev, Ino uint64
	Size     int64
	MtimeNs  int64
	CtimeNs  int64
	Mode     uint32 // the raw st_mode (type and permission bits)
	UID, GID uint32
	Target   string // a symlink's target text
}

// Dest identifies the destination entry copyd made.
type Dest struct {
	Ino     uint64
	Size    int64
	MtimeNs int64
	// CtimeNs is the entry's ctime as copyd left it: taken after its final
	// rename and metadata, so that anyone else's write (even one that puts
	// size and mtime back, as cp -p does) shows as a new ctime. 0 means
	// unknown (a record of version 1).
	CtimeNs int64
}

// SameFile reports whether now has d's inode, size and mtime: the same
// file, though it may have been written in place since (see Matches).
func (d Dest) SameFile(now Dest) bool {
	return d.Ino == now.Ino && d.Size == now.Size && d.MtimeNs == now.MtimeNs
}

// Matches reports whether the destination entry now described by d is the
// one this record's copy made: the same file (SameFile), with the same
// ctime where the record knows it.
func (d Dest) Matches(now Dest) bool {
	return d.SameFile(now) && (d.CtimeNs == 0 || d.CtimeNs == now.CtimeNs)
}

// Record is what the index knows of one destination name.
type Record struct {
	Kind Kind
	// Racy says the source was changed so shortly before it was copied
	// that a later change could carry the same ctime (timestamps have the
	// kernel's tick as granularity): the record is no proof on its own.
	Racy     bool
	Src      Source
	Dst      Dest
	Hash     []byte // BLAKE3 of the content, when known
	CopiedNs int64  // when copyd wrote it (Unix ns)
}

// Entry is a record with its name inside a folder.
type Entry struct {
	Name string
	Record
}

// recordVersion 2 added Dest.CtimeNs; version 1 records are read with it 0.
const recordVersion = 2

func (r *Record) encode() []byte {
	b := make([]byte, 0, 64+len(r.Src.Target)+len(r.Hash))
	b = append(b, recordVersion, byte(r.Kind))
	var flags byte
	if r.Racy {
		flags |= 1
	}
	b = append(b, flags)
	for _, u := range []uint64{r.Src.Dev, r.Src.Ino, uint64(r.Src.Size), uint64(r.Src.MtimeNs), uint64(r.Src.CtimeNs),
		uint64(r.Src.Mode), uint64(r.Src.UID), uint64(r.Src.GID), r.Dst.Ino, uint64(r.Dst.Size), uint64(r.Dst.MtimeNs), uint64(r.CopiedNs), uint64(r.Dst.CtimeNs)} {
		b = binary.AppendUvarint(b, u)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Src.Target)))
	b = append(b, r.Src.Target...)
	b = binary.AppendUvarint(b, uint64(len(r.Hash)))
	return append(b, r.Hash...)
}

var errBadRecord = errors.New("index: malformed record")

func decodeRecord(b []byte) (Record, error) {
	var r Record
	if len(b) < 3 || b[0] < 1 || b[0] > recordVersion {
		return r, errBadRecord
	}
	fields := 12
	if b[0] >= 2 {
		fields = 13
	}
	r.Kind, r.Racy = Kind(b[1]), b[2]&1 != 0
	b = b[3:]
	var u [13]uint64
	for i := range u[:fields] {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return r, errBadRecord
		}
		u[i], b = v, b[n:]
	}
	r.Src = Source{Dev: u[0], Ino: u[1], Size: int64(u[2]), MtimeNs: int64(u[3]), CtimeNs: int64(u[4]),
		Mode: uint32(u[5]), UID: uint32(u[6]), GID: uint32(u[7])}
	r.Dst = Dest{Ino: u[8], Size: int64(u[9]), MtimeNs: int64(u[10]), CtimeNs: int64(u[12])}
	r.CopiedNs = int64(u[11])
	var ok bool
	var target []byte
	if target, b, ok = lenPrefixed(b); !ok {
		return r, errBadRecord
	}
	r.Src.Target = string(target)
	hash, _, ok := lenPrefixed(b)
	if !ok {
		return r, errBadRecord
	}
	if len(hash) > 0 {
		r.Hash = append([]byte(nil), hash...) // b may be a driver's buffer
	}
	return r, nil
}

func lenPrefixed(b []byte) (v, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}
