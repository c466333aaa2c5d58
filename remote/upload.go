//go:build linux

package remote

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/copyd/copyd/dest"
	"github.com/copyd/copyd/index"
	"github.com/copyd/copyd/internal/nofollow"
	copysync "github.com/copyd/copyd/sync"
	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

// bufferMax is the largest file read into memory before its upload: its
// hash then goes into the object's metadata, and its stat after the read
// proves the bytes whole before anything is sent.
const bufferMax = 8 << 20

// racy reports whether a record of a source changed at ctimeNs, taken now,
// is no proof on its own: a later change could carry the same ctime.
func racy(ctimeNs int64) bool {
	return time.Now().UnixNano()-ctimeNs < int64(copysync.SettleWindow(ctimeNs))
}

// meta is what the destination keeps of a source entry besides content.
// A time the destination cannot keep (SFTP carries 1970 to 2106) becomes
// the nearest it can, with a warning: the content matters more.
func (r *pairRun) meta(st *unix.Stat_t) dest.Meta {
	m := dest.NoOwner(dest.FileMode(uint32(st.Mode)), r.keepable(mtimeOf(st)))
	if r.owner {
		m.UID, m.GID = int(st.Uid), int(st.Gid)
	}
	return m
}

// keepable is t, or the nearest time the destination can keep.
func (r *pairRun) keepable(t time.Time) time.Time {
	switch f := r.feat; {
	case !f.MinTime.IsZero() && t.Before(f.MinTime):
		return f.MinTime
	case !f.MaxTime.IsZero() && t.After(f.MaxTime):
		return f.MaxTime
	}
	return t
}

// putFile uploads the source file rel, listed with st, and records it. A
// source that changed since st or while it was read fails with
// errChanged and stores nothing.
func (r *pairRun) putFile(ctx context.Context, rel string, listed *unix.Stat_t) error {
	f, st, err := openSource(r.srcPath(rel))
	if errors.Is(err, unix.ELOOP) {
		// A folder on the path was swapped for a symlink: the path names
		// nothing in the tree now (the next scan of its parent sees what).
		err = fmt.Errorf("%s: %w", rel, nofollow.ErrSymlinkInPath)
	}
	if err != nil {
		return &sourceError{err}
	}
	defer f.Close()
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != listed.Ino {
		return errChanged // another entry now: the next scan sees what
	}
	m := r.meta(&st)
	if !m.ModTime.Equal(mtimeOf(&st)) {
		r.log.Warn("the destination cannot keep this file's modification time; stored with the nearest it can", "path", rel, "mtime", mtimeOf(&st), "stored", m.ModTime)
	}
	var sum []byte
	if st.Size <= bufferMax {
		buf, err := readWhole(f, &st)
		if err != nil {
			return err
		}
		h := blake3.Sum256(buf)
		sum = h[:]
		m.Hash = hex.EncodeToString(sum)
		err = r.dst.Put(ctx, rel, bytes.NewReader(buf), st.Size, m)
		if err != nil {
			if dest.IsTransient(err) && r.idx != nil {
				// The connection dropped mid-upload: a temp file may be
				// left on the server, which the next listing removes.
				r.idx.Unfinished(rel)
				r.intentsKept.Store(true)
			}
			return err
		}
	} else {
		// A big upload leaves parts (S3) or a temp file (SFTP) if cut
		// short: its intent goes into the index first (moves.go).
		r.intendWork(ctx, rel)
		defer r.intentsOpen.Add(-1)
		cr := &checkedReader{f: f, st: st, left: st.Size, h: blake3.New()}
		err := r.dst.Put(ctx, rel, cr, st.Size, m)
		if err != nil && cr.err == nil {
			r.intentsKept.Store(true) // the next pass lists, and aborts what is left
		}
		if cr.err != nil {
			return cr.err // the upload failed because the source did
		}
		if err != nil {
			return err
		}
		sum = cr.h.Sum(nil)
	}
	r.put(rel, index.Record{Kind: index.File, Racy: racy(st.Ctim.Nano()), Src: identity(&st, ""),
		Dst: index.Dest{Size: st.Size, MtimeNs: m.ModTime.UnixNano()}, Hash: sum, CopiedNs: time.Now().UnixNano()})
	r.progress.FilesDone.Add(1)
	r.progress.BytesDone.Add(st.Size)
	return nil
}

// readWhole reads the file f, stat'ed as st, and proves by a second stat
// that the bytes are its content: same size, mtime and ctime after.
func readWhole(f *os.File, st *unix.Stat_t) ([]byte, error) {
	buf := make([]byte, st.Size+1) // one more: a file that grew fills it
	n, err := io.ReadFull(f, buf)
	switch {
	case err == nil, n != int(st.Size):
		return nil, errChanged
	case !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF):
		return nil, &sourceError{err}
	}
	now, err := fstat(f)
	if err != nil {
		return nil, &sourceError{err}
	}
	if !sameContent(st, &now) {
		return nil, errChanged
	}
	return buf[:n], nil
}

// checkedReader hands out the size bytes of a source file while hashing
// them, and fails before the last of them when the file changed since it
// was stat'ed (another stat, and a read past the end): the upload then
// fails and nothing appears under the name.
type checkedReader struct {
	f    *os.File
	st   unix.Stat_t
	left int64
	h    hash.Hash
	err  error // the source's failure, once met
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.f.Read(p)
	c.left -= int64(n)
	c.h.Write(p[:n])
	switch {
	case c.left == 0:
		var one [1]byte
		m, _ := c.f.Read(one[:])
		now, serr := fstat(c.f)
		switch {
		case serr != nil:
			c.err = &sourceError{serr}
		case m > 0 || !sameContent(&c.st, &now):
			c.err = errChanged
		default:
			return n, nil
		}
		return 0, c.err
	case errors.Is(err, io.EOF):
		c.err = errChanged // shorter than it was
		return 0, c.err
	case err != nil:
		c.err = &sourceError{err}
		return 0, c.err
	}
	return n, nil
}

// hashSource returns the BLAKE3 of the file path and its stat, proven
// unchanged while it was read.
func hashSource(path string) ([]byte, unix.Stat_t, error) {
	f, st, err := openSource(path)
	if err != nil {
		return nil, st, err
	}
	defer f.Close()
	h := blake3.New()
	cr := &checkedReader{f: f, st: st, left: st.Size, h: h}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return nil, st, err
	}
	if cr.err != nil {
		return nil, st, cr.err
	}
	return h.Sum(nil), st, nil
}
