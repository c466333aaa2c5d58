// Package desttest is the conformance suite every destination backend
// runs: the same tests against a local folder, a real MinIO server and a
// real OpenSSH server, so that the engine can rely on one contract.
package desttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/copyd/copyd/dest"
)

// Options tune the suite for a backend.
type Options struct {
	// ListEntries is how many files the listing test puts in one folder
	// (10,000 unless set).
	ListEntries int
}

// Run runs the suite. newDest returns a new, empty destination for each
// test; the suite closes it.
func Run(t *testing.T, newDest func(t *testing.T) dest.Destination, o Options) {
	if o.ListEntries == 0 {
		o.ListEntries = 10_000
	}
	tests := []struct {
		name string
		run  func(t *testing.T, d dest.Destination)
	}{
		{"PutStatOpen", testPutStatOpen},
		{"PutReplacesWhole", testPutReplacesWhole},
		{"AtomicPutUnderReaders", testAtomicPutUnderReaders},
		{"ShortAndLongSource", testShortAndLongSource},
		{"Names", testNames},
		{"Folders", testFolders},
		{"Symlinks", testSymlinks},
		{"Metadata", testMetadata},
		{"Remove", testRemove},
		{"NotExist", testNotExist},
		{"RenameAndCopy", testRenameAndCopy},
		{"BigFile", testBigFile},
		{"List", func(t *testing.T, d dest.Destination) { testList(t, d, o.ListEntries) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDest(t)
			t.Cleanup(func() {
				if err := d.Close(); err != nil {
					t.Errorf("Close() error = %v", err)
				}
			})
			tt.run(t, d)
		})
	}
}

var t0 = time.Date(2026, 12, 7, 10, 11, 12, 123456789, time.UTC)

func meta(mode fs.FileMode, mtime time.Time) dest.Meta { return dest.NoOwner(mode, mtime) }

func put(t *testing.T, d dest.Destination, rel string, data []byte, m dest.Meta) {
	t.Helper()
	if err := d.Put(t.Context(), rel, bytes.NewReader(data), int64(len(data)), m); err != nil {
		t.Fatalf("Put(%q) error = %v", rel, err)
	}
}

func read(t *testing.T, d dest.Destination, rel string) []byte {
	t.Helper()
	rc, err := d.Open(t.Context(), rel)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", rel, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", rel, err)
	}
	return b
}

func stat(t *testing.T, d dest.Destination, rel string) dest.Entry {
	t.Helper()
	e, err := d.Stat(t.Context(), rel)
	if err != nil {
		t.Fatalf("Stat(%q) error = %v", rel, err)
	}
	return e
}

// sameTime reports whether got is want to the backend's precision.
func sameTime(d dest.Destination, got, want time.Time) bool {
	p := d.Features().MtimePrecision
	return got.Truncate(p).Equal(want.Truncate(p))
}

func mkdir(t *testing.T, d dest.Destination, rel string) {
	t.Helper()
	if err := d.Mkdir(t.Context(), rel, meta(0o755, time.Time{})); err != nil {
		t.Fatalf("Mkdir(%q) error = %v", rel, err)
	}
}

func testPutStatOpen(t *testing.T, d dest.Destination) {
	data := []byte("hello, backup\n")
	put(t, d, "a.txt", data, meta(0o640, t0))
	e := stat(t, d, "a.txt")
	if e.Kind != dest.File || e.Name != "a.txt" || e.Size != int64(len(data)) {
		t.Errorf("Stat(a.txt) = %+v, want a file named a.txt of %d bytes", e, len(data))
	}
	if !sameTime(d, e.ModTime, t0) {
		t.Errorf("Stat(a.txt).ModTime = %v, want %v to %v", e.ModTime, t0, d.Features().MtimePrecision)
	}
	if d.Features().Modes && e.Mode.Perm() != 0o640 {
		t.Errorf("Stat(a.txt).Mode = %v, want -rw-r-----", e.Mode)
	}
	if got := read(t, d, "a.txt"); !bytes.Equal(got, data) {
		t.Errorf("Open(a.txt) read %q, want %q", got, data)
	}
	list, err := d.List(t.Context(), "")
	if err != nil {
		t.Fatalf("List(root) error = %v", err)
	}
	if len(list) != 1 || list[0].Name != "a.txt" || list[0].Kind != dest.File || list[0].Size != int64(len(data)) || !sameTime(d, list[0].ModTime, t0) {
		t.Errorf("List(root) = %+v, want a.txt alone, as Stat gave it", list)
	}
	put(t, d, "empty", nil, meta(0o644, t0))
	if e := stat(t, d, "empty"); e.Kind != dest.File || e.Size != 0 {
		t.Errorf("Stat(empty) = %+v, want an empty file", e)
	}
}

func testPutReplacesWhole(t *testing.T, d dest.Destination) {
	put(t, d, "f", bytes.Repeat([]byte("long old content "), 1000), meta(0o644, t0))
	put(t, d, "f", []byte("short"), meta(0o600, t0.Add(time.Hour)))
	if got := read(t, d, "f"); string(got) != "short" {
		t.Errorf("after a second Put, f holds %d bytes %.20q…, want exactly %q", len(got), got, "short")
	}
	if e := stat(t, d, "f"); e.Size != 5 || !sameTime(d, e.ModTime, t0.Add(time.Hour)) {
		t.Errorf("Stat(f) after the second Put = %+v", e)
	}
}

// testAtomicPutUnderReaders replaces a file again and again while readers
// read it: every read must be one whole version, never a mix or a part.
func testAtomicPutUnderReaders(t *testing.T, d dest.Destination) {
	version := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 64<<10+i*4099) }
	versions := make(map[int]byte) // length → the byte each version of that length is made of
	for i := range 40 {
		versions[64<<10+i*4099] = byte('a' + i%26)
	}
	put(t, d, "v", version(0), meta(0o644, t0))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	reads := 0
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				rc, err := d.Open(ctx, "v")
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						bad = append(bad, "open: "+err.Error())
						mu.Unlock()
					}
					return
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				mu.Lock()
				reads++
				if err == nil {
					want, known := versions[len(b)]
					if !known || bytes.Count(b, []byte{want}) != len(b) {
						bad = append(bad, fmt.Sprintf("a read of %d bytes that is no whole version", len(b)))
					}
				}
				mu.Unlock()
			}
		})
	}
	for i := 1; i < 40; i++ {
		put(t, d, "v", version(i), meta(0o644, t0))
	}
	cancel()
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("%d of %d reads saw something else than a whole version, first: %s", len(bad), reads, bad[0])
	}
	if got := read(t, d, "v"); !bytes.Equal(got, version(39)) {
		t.Errorf("after the last Put v holds %d bytes, want version 39", len(got))
	}
}

type errAfter struct {
	data []byte
	err  error
}

func (r *errAfter) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func testShortAndLongSource(t *testing.T, d dest.Destination) {
	put(t, d, "kept", []byte("old"), meta(0o644, t0))
	for _, tt := range []struct {
		name string
		r    io.Reader
		size int64
	}{
		{"shorter than its size", bytes.NewReader([]byte("12345")), 10},
		{"longer than its size", bytes.NewReader([]byte("1234567890")), 5},
		{"failing mid-way", &errAfter{[]byte("12345"), errors.New("disk read error")}, 10},
	} {
		for _, rel := range []string{"new", "kept"} {
			err := d.Put(t.Context(), rel, tt.r, tt.size, meta(0o644, t0))
			if err == nil {
				t.Errorf("Put(%s) of a source %s succeeded", rel, tt.name)
			}
			switch rel {
			case "new":
				if _, err := d.Stat(t.Context(), "new"); !errors.Is(err, dest.ErrNotExist) {
					t.Errorf("after a failed Put of a source %s, Stat(new) error = %v, want ErrNotExist", tt.name, err)
				}
			case "kept":
				if got := read(t, d, "kept"); string(got) != "old" {
					t.Errorf("after a failed Put of a source %s, kept holds %q, want %q", tt.name, got, "old")
				}
			}
			if sr, ok := tt.r.(*bytes.Reader); ok {
				sr.Seek(0, io.SeekStart)
			} else {
				tt.r = &errAfter{[]byte("12345"), errors.New("disk read error")}
			}
		}
	}
	list, err := d.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("after failed Puts the root lists %+v, want kept alone (nothing half-written, no temp file)", list)
	}
}

func testNames(t *testing.T, d dest.Destination) {
	names := []string{
		"名前 ü ñ.txt",
		"new\nline",
		"tab\there",
		"back\\slash",
		"#%?&=+ *quote\"'",
		strings.Repeat("x", 200) + "ü", // 202 bytes
		strings.Repeat("y", 255),
		".hidden",
		"-dash",
	}
	for i, n := range names {
		put(t, d, n, []byte(fmt.Sprint(i)), meta(0o644, t0))
	}
	list, err := d.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Name)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(names))
	if !slices.Equal(got, want) {
		t.Errorf("List(root) = %q\nwant %q", got, want)
	}
	for i, n := range names {
		if b := read(t, d, n); string(b) != fmt.Sprint(i) {
			t.Errorf("Open(%q) = %q, want %q", n, b, fmt.Sprint(i))
		}
	}
}

func testFolders(t *testing.T, d dest.Destination) {
	mkdir(t, d, "d")
	mkdir(t, d, "d") // again: not an error
	mkdir(t, d, "d/e")
	put(t, d, "d/e/f", []byte("deep"), meta(0o644, t0))
	put(t, d, "d/g", []byte("g"), meta(0o644, t0))
	if e := stat(t, d, "d"); e.Kind != dest.Dir || e.Name != "d" {
		t.Errorf("Stat(d) = %+v, want a folder", e)
	}
	list, err := d.List(t.Context(), "d")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]dest.Kind{}
	for _, e := range list {
		kinds[e.Name] = e.Kind
	}
	if len(kinds) != 2 || kinds["e"] != dest.Dir || kinds["g"] != dest.File {
		t.Errorf("List(d) = %+v, want folder e and file g", list)
	}
	root, err := d.List(t.Context(), "")
	if err != nil || len(root) != 1 || root[0].Name != "d" || root[0].Kind != dest.Dir {
		t.Errorf("List(root) = %+v, %v; want folder d alone", root, err)
	}
	if _, err := d.List(t.Context(), "nothing"); !errors.Is(err, dest.ErrNotExist) {
		t.Errorf("List(nothing) error = %v, want ErrNotExist", err)
	}
	if d.Features().Folders {
		if err := d.Put(t.Context(), "d", bytes.NewReader(nil), 0, meta(0o644, t0)); err == nil {
			t.Error("Put over a folder succeeded")
		}
		if err := d.Put(t.Context(), "missing/x", bytes.NewReader(nil), 0, meta(0o644, t0)); !errors.Is(err, dest.ErrNotExist) {
			t.Errorf("Put into a missing folder error = %v, want ErrNotExist", err)
		}
	}
}

func testSymlinks(t *testing.T, d dest.Destination) {
	if err := d.Symlink(t.Context(), "l", "../somewhere/else", meta(0o777, t0)); err != nil {
		if errors.Is(err, dest.ErrUnsupported) {
			t.Skipf("%s keeps no symlinks", d)
		}
		t.Fatalf("Symlink() error = %v", err)
	}
	e := stat(t, d, "l")
	if e.Kind != dest.Symlink || e.Target != "../somewhere/else" {
		t.Errorf("Stat(l) = %+v, want a symlink to ../somewhere/else", e)
	}
	put(t, d, "f", []byte("a file first"), meta(0o644, t0))
	if err := d.Symlink(t.Context(), "f", "target-2", meta(0o777, t0)); err != nil {
		t.Fatalf("Symlink over a file: %v", err)
	}
	if e := stat(t, d, "f"); e.Kind != dest.Symlink || e.Target != "target-2" {
		t.Errorf("Stat(f) after Symlink over it = %+v", e)
	}
	if err := d.Symlink(t.Context(), "l", "new-target", meta(0o777, t0.Add(time.Minute))); err != nil {
		t.Fatalf("Symlink over a symlink: %v", err)
	}
	list, err := d.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Name == "l" && (e.Kind != dest.Symlink || e.Target != "new-target") {
			t.Errorf("List shows l as %+v, want a symlink to new-target", e)
		}
	}
	if len(list) != 2 {
		t.Errorf("List(root) = %+v, want f and l (no temp entries)", list)
	}
}

func testMetadata(t *testing.T, d dest.Destination) {
	put(t, d, "f", []byte("x"), meta(0o644, t0))
	later := t0.Add(36*time.Hour + 987654321)
	if err := d.SetMeta(t.Context(), "f", meta(0o600, later)); err != nil {
		t.Fatalf("SetMeta() error = %v", err)
	}
	e := stat(t, d, "f")
	if !sameTime(d, e.ModTime, later) {
		t.Errorf("ModTime after SetMeta = %v, want %v", e.ModTime, later)
	}
	if d.Features().Modes && e.Mode.Perm() != 0o600 {
		t.Errorf("Mode after SetMeta = %v, want -rw-------", e.Mode)
	}
	if got := read(t, d, "f"); string(got) != "x" {
		t.Errorf("SetMeta changed the content to %q", got)
	}
	future := time.Date(2300, 1, 1, 0, 0, 0, 5, time.UTC) // past what int64 nanoseconds hold
	if err := d.SetMeta(t.Context(), "f", meta(0o600, future)); errors.Is(err, dest.ErrUnsupported) {
		t.Logf("%s does not keep a time after 2262: %v", d, err)
	} else if err != nil {
		t.Fatalf("SetMeta(2300-01-01) error = %v", err)
	} else if e := stat(t, d, "f"); !sameTime(d, e.ModTime, future) {
		t.Errorf("ModTime after SetMeta(2300) = %v, want %v", e.ModTime, future)
	}
	if d.Features().Folders {
		mkdir(t, d, "dir")
		if err := d.SetMeta(t.Context(), "dir", meta(0o750, later)); err != nil {
			t.Fatalf("SetMeta(dir) error = %v", err)
		}
		if e := stat(t, d, "dir"); !sameTime(d, e.ModTime, later) || (d.Features().Modes && e.Mode.Perm() != 0o750) {
			t.Errorf("Stat(dir) after SetMeta = %+v", e)
		}
	}
}

func testRemove(t *testing.T, d dest.Destination) {
	put(t, d, "f", []byte("x"), meta(0o644, t0))
	if err := d.Remove(t.Context(), "f"); err != nil {
		t.Fatalf("Remove(f) error = %v", err)
	}
	if _, err := d.Stat(t.Context(), "f"); !errors.Is(err, dest.ErrNotExist) {
		t.Errorf("Stat after Remove error = %v, want ErrNotExist", err)
	}
	if err := d.Remove(t.Context(), "f"); !errors.Is(err, dest.ErrNotExist) {
		t.Errorf("Remove of a missing file error = %v, want ErrNotExist", err)
	}
	mkdir(t, d, "d")
	put(t, d, "d/x", []byte("x"), meta(0o644, t0))
	if d.Features().Folders {
		if err := d.Remove(t.Context(), "d"); !errors.Is(err, dest.ErrNotEmpty) {
			t.Errorf("Remove of a folder with a file error = %v, want ErrNotEmpty", err)
		}
	}
	if err := d.Remove(t.Context(), "d/x"); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(t.Context(), "d"); err != nil && d.Features().Folders {
		t.Errorf("Remove of an empty folder error = %v", err)
	}
	if list, err := d.List(t.Context(), ""); err != nil || len(list) != 0 {
		t.Errorf("List(root) after removing all = %+v, %v; want nothing", list, err)
	}
}

func testNotExist(t *testing.T, d dest.Destination) {
	if _, err := d.Stat(t.Context(), "nope"); !errors.Is(err, dest.ErrNotExist) {
		t.Errorf("Stat(nope) error = %v, want ErrNotExist", err)
	}
	if _, err := d.Open(t.Context(), "nope"); !errors.Is(err, dest.ErrNotExist) {
		t.Errorf("Open(nope) error = %v, want ErrNotExist", err)
	}
	if err := d.SetMeta(t.Context(), "nope", meta(0o644, t0)); !errors.Is(err, dest.ErrNotExist) {
		t.Errorf("SetMeta(nope) error = %v, want ErrNotExist", err)
	}
}

func testRenameAndCopy(t *testing.T, d dest.Destination) {
	r, canRename := d.(dest.Renamer)
	c, canCopy := d.(dest.Copier)
	if !canRename && !canCopy {
		t.Skipf("%s neither renames nor copies", d)
	}
	put(t, d, "a", []byte("content of a"), meta(0o640, t0))
	put(t, d, "b", []byte("b, to be replaced"), meta(0o644, t0))
	if canCopy {
		if err := c.Copy(t.Context(), "a", "b"); err != nil {
			t.Fatalf("Copy(a, b) error = %v", err)
		}
		if got := read(t, d, "b"); string(got) != "content of a" {
			t.Errorf("after Copy(a, b), b holds %q", got)
		}
		if e := stat(t, d, "b"); !sameTime(d, e.ModTime, t0) || (d.Features().Modes && e.Mode.Perm() != 0o640) {
			t.Errorf("Copy did not keep the metadata: %+v", e)
		}
	}
	if canRename {
		if err := r.Rename(t.Context(), "a", "c"); err != nil {
			t.Fatalf("Rename(a, c) error = %v", err)
		}
		if _, err := d.Stat(t.Context(), "a"); !errors.Is(err, dest.ErrNotExist) {
			t.Errorf("after Rename(a, c), Stat(a) error = %v", err)
		}
		if got := read(t, d, "c"); string(got) != "content of a" {
			t.Errorf("after Rename(a, c), c holds %q", got)
		}
	}
}

// zeros reads n zero bytes.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n)]
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// testBigFile puts 80 MiB: past S3's multipart threshold and many SFTP
// packets.
func testBigFile(t *testing.T, d dest.Destination) {
	const size = 80 << 20
	if err := d.Put(t.Context(), "big", &zeros{size}, size, meta(0o644, t0)); err != nil {
		t.Fatalf("Put of %d bytes: %v", size, err)
	}
	if e := stat(t, d, "big"); e.Size != size {
		t.Errorf("Stat(big).Size = %d, want %d", e.Size, size)
	}
	rc, err := d.Open(t.Context(), "big")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		m, err := rc.Read(buf)
		if bytes.ContainsFunc(buf[:m], func(r rune) bool { return r != 0 }) {
			t.Fatalf("big holds a non-zero byte near offset %d", n)
		}
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != size {
		t.Errorf("read %d bytes of big, want %d", n, size)
	}
}

func testList(t *testing.T, d dest.Destination, n int) {
	mkdir(t, d, "many")
	jobs := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	workers := 16
	if c := d.Features().Connections; c > 0 {
		workers = min(workers, c)
	}
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				b := []byte(fmt.Sprint(i))
				if err := d.Put(t.Context(), fmt.Sprintf("many/f%05d", i), bytes.NewReader(b), int64(len(b)), meta(0o644, t0)); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatalf("Put of many files: %v", err)
	}
	start := time.Now()
	list, err := d.List(t.Context(), "many")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("List of %d entries took %v", n, time.Since(start))
	seen := make(map[string]bool, n)
	for _, e := range list {
		if seen[e.Name] {
			t.Errorf("List repeats %q", e.Name)
		}
		seen[e.Name] = true
	}
	if len(seen) != n {
		t.Errorf("List(many) has %d entries, want %d", len(seen), n)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		if !seen[fmt.Sprintf("f%05d", i)] {
			t.Errorf("List(many) lacks f%05d", i)
		}
	}
}
