//go:build !linux

package sync

import "context"

// copyFile makes dst a complete copy of the regular file src: readers see
// the old dst or the new one, never a part. See copyfile_linux.go.
func copyFile(ctx context.Context, src, dst string, o writeOptions) (int64, error) {
	return copyFilePortable(ctx, src, dst, o)
}
