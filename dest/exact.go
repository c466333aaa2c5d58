package dest

import (
	"context"
	"io"
)

// Exact returns a reader of the size bytes of r that fails, before it
// hands out the last of them, when r holds more, and at its end when r
// holds fewer (ErrShortSource), or once ctx is done. A Put that reads
// through it fails rather than store a source that changed size since it
// was stat'ed.
func Exact(ctx context.Context, r io.Reader, size int64) io.Reader {
	return &exactReader{ctx: ctx, r: r, left: size}
}

type exactReader struct {
	ctx  context.Context
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if err := e.ctx.Err(); err != nil {
		return 0, err
	}
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case e.left == 0:
		var b [1]byte
		for {
			m, err := e.r.Read(b[:])
			if m > 0 {
				return 0, ErrShortSource
			}
			if err != nil {
				return n, nil
			}
		}
	case err == io.EOF:
		return n, ErrShortSource
	}
	return n, err
}
