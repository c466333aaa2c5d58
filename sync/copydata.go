package sync

import (
	"context"
	"errors"
	"io"
	"os"
)

// chunk bounds one kernel copy call so that cancellation is noticed within
// a fraction of a second even for multi-GiB files.
const chunk = 64 << 20

// copyRange copies n bytes from src's offset to dst's offset in chunks,
// checking ctx between them. io.CopyN between two *os.File values lets the
// kernel copy (copy_file_range on Linux); a wrapping reader would hide that.
// A source that ends early reports ErrSourceChanged.
func copyRange(ctx context.Context, dst, src *os.File, n int64) (int64, error) {
	var done int64
	for done < n {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		w, err := io.CopyN(dst, src, min(chunk, n-done))
		done += w
		if errors.Is(err, io.EOF) {
			return done, ErrSourceChanged
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
