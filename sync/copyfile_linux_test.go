package sync

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCopyFileSparse copies a 4 GiB file that holds 128 KiB of data: the
// copy must keep the holes (a few blocks on disk, not 4 GiB) and the data.
func TestCopyFileSparse(t *testing.T) {
	t.Parallel()
	const size = 4 << 30
	data := map[int64][]byte{
		1 << 30:      bytes.Repeat([]byte("at 1 GiB "), 7282), // ~64 KiB
		size - 65536: bytes.Repeat([]byte{0xa5}, 65536),       // the last 64 KiB
	}
	holes := []int64{0, 1<<30 - 4096, 2 << 30, size - 65536 - 4096}
	for _, c := range []string{"native"} { // the portable copier writes every hole as zeroes
		t.Run(c, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			f, err := os.Create(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(size); err != nil {
				f.Close()
				t.Fatal(err)
			}
			for off, b := range data {
				if _, err := f.WriteAt(b, off); err != nil {
					f.Close()
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if used := diskUsage(t, src); used >= size/2 {
				t.Skipf("the filesystem of %s does not keep holes (%d bytes used)", dir, used)
			}

			n, err := copyFile(t.Context(), src, dst, writeOptions{})
			if err != nil {
				t.Fatalf("copyFile() error = %v", err)
			}
			if n != size {
				t.Errorf("copyFile() = %d bytes, want %d", n, size)
			}
			if fi := lstat(t, dst); fi.Size() != size {
				t.Errorf("dst size = %d, want %d", fi.Size(), size)
			}
			if used := diskUsage(t, dst); used > 16<<20 {
				t.Errorf("dst uses %d bytes on disk, want the holes kept (source: %d)", used, diskUsage(t, src))
			}
			g, err := os.Open(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			for off, want := range data {
				got := make([]byte, len(want))
				if _, err := g.ReadAt(got, off); err != nil {
					t.Fatalf("read dst at %d: %v", off, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("dst data differs at offset %d", off)
				}
			}
			for _, off := range holes {
				got := make([]byte, 4096)
				if _, err := g.ReadAt(got, off); err != nil {
					t.Fatalf("read dst at %d: %v", off, err)
				}
				if !bytes.Equal(got, make([]byte, 4096)) {
					t.Errorf("dst hole at offset %d is not zeroes", off)
				}
			}
			assertNoTemps(t, dir)
		})
	}
}

// diskUsage returns the bytes path occupies on disk.
func diskUsage(t testing.TB, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// TestSourceUnchanged is TestUnchangedSince for the Linux copier's check,
// which compares an fstat taken before the copy with an lstat after it.
func TestSourceUnchanged(t *testing.T) {
	t.Parallel()
	for _, tt := range sourceChanges {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "src")
			writeFile(t, path, "0123456789", 0o644, baseTime)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var before unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &before); err != nil {
				t.Fatal(err)
			}
			tt.change(t, path)
			if err := sourceUnchanged(path, &before); !errors.Is(err, tt.wantErr) {
				t.Errorf("sourceUnchanged() error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestCopyFileModeUnderDefaultACL copies into a folder with a default ACL:
// there the kernel derives a new file's mode from the ACL, not from the
// umask, so the copy must still end with the source's permission bits.
func TestCopyFileModeUnderDefaultACL(t *testing.T) {
	t.Parallel()
	for _, c := range copiers {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			writeFile(t, src, "data", 0o644, baseTime)
			dstDir := filepath.Join(dir, "acl")
			mkdirAll(t, dstDir)
			setDefaultACL(t, dstDir, 0o7, 0o0, 0o0) // default "u::rwx,g::---,o::---"

			dst := filepath.Join(dstDir, "dst")
			if _, err := c.copy(t.Context(), src, dst, writeOptions{}); err != nil {
				t.Fatalf("copyFile() error = %v", err)
			}
			if got := lstat(t, dst).Mode(); got != 0o644 {
				t.Errorf("dst mode = %v, want the source's %v", got, fs.FileMode(0o644))
			}
		})
	}
}

// setDefaultACL gives dir a minimal default POSIX ACL (owner, group and
// other permissions, 0-7 each), or skips the test where ACLs are not
// supported. The xattr format is linux/posix_acl_xattr.h.
func setDefaultACL(t *testing.T, dir string, user, group, other uint16) {
	t.Helper()
	const version, undefinedID = 2, 0xffffffff
	const tagUserObj, tagGroupObj, tagOther = 0x01, 0x04, 0x20
	b := binary.LittleEndian.AppendUint32(nil, version)
	for _, e := range []struct{ tag, perm uint16 }{{tagUserObj, user}, {tagGroupObj, group}, {tagOther, other}} {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, undefinedID)
	}
	if err := unix.Setxattr(dir, "system.posix_acl_default", b, 0); err != nil {
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("the filesystem of %s has no POSIX ACLs: %v", dir, err)
		}
		t.Fatalf("set default ACL on %s: %v", dir, err)
	}
}

// TestCopyFileUnnamedTemp covers the O_TMPFILE path of a new file: the copy
// is linked in when the name is free, and when something took the name
// since the scan (here a symlink leading outside the tree) it falls back to
// a named temp renamed over it, never writing through the symlink.
func TestCopyFileUnnamedTemp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		takenBy string // what stands under the name at copy time: "", "symlink", "file"
	}{
		{"name free", ""},
		{"symlink took the name", "symlink"},
		{"file took the name", "file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			outside := filepath.Join(dir, "outside")
			writeFile(t, src, "new content", 0o640, time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
			writeFile(t, outside, "must stay", 0o644, time.Now())
			switch tt.takenBy {
			case "symlink":
				symlink(t, outside, dst)
			case "file":
				writeFile(t, dst, "old", 0o644, time.Now())
			}
			if _, err := copyFile(t.Context(), src, dst, writeOptions{fresh: true}); err != nil {
				t.Fatalf("copyFile() error = %v", err)
			}
			assertContent(t, dst, "new content")
			assertContent(t, outside, "must stay")
			fi := lstat(t, dst)
			if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o640 {
				t.Errorf("dst mode = %v, want a regular file with 0640", fi.Mode())
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Nlink != 1 {
				t.Errorf("dst has %d links, want 1 (no temp name left linked)", st.Nlink)
			}
			assertNoTemps(t, dir)
		})
	}
}
