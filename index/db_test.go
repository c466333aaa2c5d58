package index

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func testBinding(dir string) Binding {
	return Binding{Source: filepath.Join(dir, "src"), Destination: filepath.Join(dir, "dst"), DestDev: 1, DestIno: 2}
}

func rec(ino uint64, size int64) Record {
	return Record{Kind: File, Src: Source{Dev: 7, Ino: ino, Size: size, MtimeNs: 1e18, CtimeNs: 1e18 + 5, Mode: 0o100644, UID: 1, GID: 2},
		Dst: Dest{Ino: ino + 1000, Size: size, MtimeNs: 1e18, CtimeNs: 1e18 + 9}, CopiedNs: 123}
}

func open(t *testing.T, path string, b Binding) (*DB, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	db, err := Open(path, b, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Open() error = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, &logs
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []Record{
		rec(1, 0),
		{Kind: Symlink, Racy: true, Src: Source{Ino: 1 << 63, Size: -1, MtimeNs: -5, Target: "../x\n\xff"}, Hash: []byte{1, 2, 3}},
		{Kind: Dir},
	} {
		got, err := decodeRecord(r.encode())
		if err != nil {
			t.Fatalf("decodeRecord() error = %v", err)
		}
		if got.Kind != r.Kind || got.Racy != r.Racy || got.Src != r.Src || got.Dst != r.Dst || !bytes.Equal(got.Hash, r.Hash) || got.CopiedNs != r.CopiedNs {
			t.Errorf("round trip = %+v, want %+v", got, r)
		}
	}
	// A version 1 record (before Dst.CtimeNs) reads with that ctime unknown.
	v1 := rec(3, 30)
	b := []byte{1, byte(v1.Kind), 0}
	for _, u := range []uint64{v1.Src.Dev, v1.Src.Ino, uint64(v1.Src.Size), uint64(v1.Src.MtimeNs), uint64(v1.Src.CtimeNs),
		uint64(v1.Src.Mode), uint64(v1.Src.UID), uint64(v1.Src.GID), v1.Dst.Ino, uint64(v1.Dst.Size), uint64(v1.Dst.MtimeNs), uint64(v1.CopiedNs)} {
		b = binary.AppendUvarint(b, u)
	}
	b = append(b, 0, 0) // no target, no hash
	got, err := decodeRecord(b)
	v1.Dst.CtimeNs = 0
	if err != nil || got.Src != v1.Src || got.Dst != v1.Dst || got.CopiedNs != v1.CopiedNs {
		t.Errorf("decodeRecord(version 1) = %+v, %v; want %+v", got, err, v1)
	}
	if !v1.Dst.Matches(Dest{Ino: v1.Dst.Ino, Size: v1.Dst.Size, MtimeNs: v1.Dst.MtimeNs, CtimeNs: 77}) {
		t.Error("a version 1 record's destination does not match its entry with any ctime")
	}
	for _, bad := range [][]byte{nil, {0, 1, 0}, {9, 1, 0}, {recordVersion, 1, 0, 0x80}, b[:len(b)-3]} {
		if _, err := decodeRecord(bad); err == nil {
			t.Errorf("decodeRecord(%x) = nil error, want one", bad)
		}
	}
}

func TestWritesReadBack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	db, _ := open(t, path, testBinding(dir))
	if !db.Fresh {
		t.Fatal("a new database is not Fresh")
	}
	db.Put("a", rec(1, 10))
	db.Put("d", Record{Kind: Dir, Src: Source{Dev: 7, Ino: 50}})
	db.Put("d/b", rec(2, 20))
	db.Put("d/e/c", rec(3, 30))
	db.Put("d/e/c", rec(4, 40)) // replaces
	db.Put("dx/f", rec(5, 50))  // "d" is a prefix of "dx" but not its folder
	db.Put("名前\n\xff", rec(6, 60))
	db.Flush(t.Context())

	if r, ok := db.Get(t.Context(), "d/e/c"); !ok || r.Src.Ino != 4 {
		t.Errorf("Get(d/e/c) = %+v, %v; want ino 4", r, ok)
	}
	if r, ok := db.Get(t.Context(), "名前\n\xff"); !ok || r.Src.Ino != 6 {
		t.Errorf("Get(odd name) = %+v, %v", r, ok)
	}
	if got := slices.Sorted(mapKeys(db.Dir(t.Context(), ""))); !slices.Equal(got, []string{"a", "d", "名前\n\xff"}) {
		t.Errorf("Dir(root) = %q", got)
	}

	db.Move("d", "m") // a folder: everything below moves with it
	db.Flush(t.Context())
	for rel, want := range map[string]bool{"d": false, "d/b": false, "d/e/c": false, "m": true, "m/b": true, "m/e/c": true, "dx/f": true} {
		if _, ok := db.Get(t.Context(), rel); ok != want {
			t.Errorf("after Move(d, m): Get(%s) found = %v, want %v", rel, ok, want)
		}
	}
	db.Move("a", "m/b") // over an existing record
	db.Flush(t.Context())
	if r, ok := db.Get(t.Context(), "m/b"); !ok || r.Src.Ino != 1 {
		t.Errorf("after Move(a, m/b): Get(m/b) = %+v, %v; want ino 1", r, ok)
	}
	db.Delete("m")
	db.Flush(t.Context())
	for _, rel := range []string{"m", "m/b", "m/e/c"} {
		if _, ok := db.Get(t.Context(), rel); ok {
			t.Errorf("after Delete(m): %s still recorded", rel)
		}
	}
	if _, ok := db.Get(t.Context(), "dx/f"); !ok {
		t.Error("Delete(m) took dx/f too")
	}

	t0 := time.Unix(1000, 0)
	db.Fail("x", "copy", "permission denied", t0)
	db.Fail("x", "copy", "still denied", t0.Add(time.Minute))
	db.Fail("y", "stat", "io error", t0.Add(time.Second))
	db.Succeeded("y")
	db.Flush(t.Context())
	f := db.Failures(t.Context())
	if len(f) != 1 || f[0].Path != "x" || f[0].Err != "still denied" || !f[0].Since.Equal(t0) || f[0].Attempts != 2 {
		t.Errorf("Failures() = %+v, want x since %v, 2 attempts", f, t0)
	}
	db.Unfinished("d/e")
	db.Unfinished("")
	db.Unfinished("d/e") // once is enough
	db.Flush(t.Context())
	if got := db.UnfinishedFolders(t.Context()); !slices.Equal(got, []string{"", "d/e"}) {
		t.Errorf("UnfinishedFolders() = %q, want the root and d/e", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// It persists.
	db2, logs := open(t, path, testBinding(dir))
	if db2.Fresh {
		t.Errorf("reopened database is Fresh; log: %s", logs)
	}
	if _, ok := db2.Get(t.Context(), "dx/f"); !ok {
		t.Error("record lost across Close and Open")
	}
	if got := db2.UnfinishedFolders(t.Context()); len(got) != 2 {
		t.Errorf("UnfinishedFolders() after reopening = %q, want 2 folders", got)
	}
	db2.FinishedAll()
	db2.Flush(t.Context())
	if got := db2.UnfinishedFolders(t.Context()); len(got) != 0 {
		t.Errorf("UnfinishedFolders() after FinishedAll = %q, want none", got)
	}
}

func mapKeys(m map[string]Record) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestUnusableIsRebuilt: a database that does not fit is rebuilt, with one
// log line saying why.
func TestUnusableIsRebuilt(t *testing.T) {
	tests := []struct {
		name    string
		spoil   func(t *testing.T, path string, b *Binding)
		wantLog string
	}{
		{"other destination folder", func(t *testing.T, path string, b *Binding) { b.DestIno++ }, "describes dest_ino"},
		{"other source", func(t *testing.T, path string, b *Binding) { b.Source += "2" }, "describes source"},
		{"newer schema", func(t *testing.T, path string, b *Binding) { setVersion(t, path, SchemaVersion+1) }, "newer copyd"},
		{"not a database", func(t *testing.T, path string, b *Binding) { writeFile(t, path, strings.Repeat("garbage ", 1000)) }, "unreadable"},
		{"empty file", func(t *testing.T, path string, b *Binding) { writeFile(t, path, "") }, "not copyd's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.db")
			b := testBinding(dir)
			db, _ := open(t, path, b)
			db.Put("a", rec(1, 1))
			db.Close()
			tt.spoil(t, path, &b)
			db2, logs := open(t, path, b)
			if !db2.Fresh {
				t.Fatalf("database not rebuilt; log: %s", logs)
			}
			if _, ok := db2.Get(t.Context(), "a"); ok {
				t.Error("rebuilt database still has the old record")
			}
			if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), tt.wantLog) || !strings.Contains(logs.String(), "rebuilding") {
				t.Errorf("log = %q, want one line saying %q and rebuilding", logs, tt.wantLog)
			}
		})
	}
}

// TestCorruptFound: a damaged page is found by the check at open (the
// index is rebuilt at once, one line saying so) or, when it is damaged
// while open, by the read that meets it (the index is then ignored and
// rebuilt at the next start).
func TestCorruptFound(t *testing.T) {
	for _, whileOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("while_open=%v", whileOpen), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.db")
			b := testBinding(dir)
			db, _ := open(t, path, b)
			for i := range 5000 {
				db.Put("d/"+strings.Repeat("n", 50)+string(rune('a'+i%26))+string(rune(i)), rec(uint64(i+1), 1))
			}
			db.Close()
			// Keep the header pages, spoil the rest: the meta table still reads.
			spoil := func() {
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				fi, _ := f.Stat()
				f.WriteAt(bytes.Repeat([]byte{0xA5}, int(fi.Size())-3*4096), 3*4096)
				f.Close()
			}
			if !whileOpen {
				spoil()
			}
			db2, logs := open(t, path, b)
			if whileOpen {
				spoil()
			}
			if got := db2.Dir(t.Context(), "d"); len(got) != 0 {
				t.Errorf("Dir() of a corrupt index = %d records, want none", len(got))
			}
			if !whileOpen {
				if !db2.Fresh || !strings.Contains(logs.String(), "corrupt") {
					t.Fatalf("corruption not found at open (Fresh = %v); log: %s", db2.Fresh, logs)
				}
				return
			}
			if !db2.Broken() {
				t.Fatalf("corruption not noticed by the read; log: %s", logs)
			}
			db2.Close()
			db3, _ := open(t, path, b)
			if !db3.Fresh {
				t.Error("corrupt database not rebuilt at the next start")
			}
		})
	}
}

func TestSecondOpenRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	db, _ := open(t, path, testBinding(dir))
	_, err := Open(path, testBinding(dir), Options{})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second Open() error = %v, want ErrLocked naming the pid", err)
	}
	db.Close()
	db2, err := Open(path, testBinding(dir), Options{})
	if err != nil {
		t.Fatalf("Open() after Close() error = %v", err)
	}
	db2.Close()
}

func TestPathDiffersByDestination(t *testing.T) {
	a, b := Path("/s", "/backup/a"), Path("/s", "/other/a")
	if a == b || filepath.Dir(a) != "/s" || !strings.HasPrefix(filepath.Base(a), "a-") {
		t.Errorf("Path() = %s, %s", a, b)
	}
}

func setVersion(t *testing.T, path string, v int) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	for _, p := range []string{path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReadsSeeQueuedWrites: a read returns what the writes before it made,
// committed or not: seeded random puts, deletes and moves on a few paths,
// each followed by reads of every path and folder, against a plain map.
func TestReadsSeeQueuedWrites(t *testing.T) {
	paths := []string{"a", "b", "d", "d/a", "d/b", "d/e", "d/e/a", "f", "f/a", "f/e", "f/e/a"}
	folders := []string{"", "d", "d/e", "f", "f/e"}
	for _, flushEvery := range []int{20, 1} { // 1: the database alone
		for seed := int64(1); seed <= 8; seed++ {
			t.Run(fmt.Sprintf("flush_1_in_%d/%d", flushEvery, seed), func(t *testing.T) {
				dir := t.TempDir()
				db, _ := open(t, filepath.Join(dir, "x.db"), testBinding(dir))
				rng := rand.New(rand.NewPCG(uint64(seed), 0))
				model := map[string]Record{}
				under := func(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }
				for step := 0; step < 200; step++ {
					p := paths[rng.IntN(len(paths))]
					var what string
					switch n := rng.IntN(10); {
					case n < 6:
						r := rec(uint64(step), int64(step))
						db.Put(p, r)
						model[p] = r
						what = "Put " + p
					case n < 8:
						db.Delete(p)
						for k := range model {
							if under(k, p) {
								delete(model, k)
							}
						}
						what = "Delete " + p
					default:
						to := paths[rng.IntN(len(paths))]
						if under(to, p) || under(p, to) {
							continue
						}
						db.Move(p, to)
						moved := map[string]Record{}
						for k, r := range model {
							if under(k, to) {
								delete(model, k)
							}
							if under(k, p) {
								moved[to+k[len(p):]] = r
								delete(model, k)
							}
						}
						maps.Copy(model, moved)
						what = "Move " + p + " " + to
					}
					if rng.IntN(flushEvery) == 0 {
						db.Flush(t.Context())
					}
					for _, q := range paths {
						r, ok := db.Get(t.Context(), q)
						want, wantOK := model[q]
						if ok != wantOK || r.Src.Ino != want.Src.Ino {
							t.Fatalf("step %d (%s): Get(%s) = ino %d, %v; want ino %d, %v", step, what, q, r.Src.Ino, ok, want.Src.Ino, wantOK)
						}
					}
					for _, f := range folders {
						got := db.Dir(t.Context(), f)
						want := map[string]uint64{}
						for k, r := range model {
							if d, name := split(k); d == f {
								want[name] = r.Src.Ino
							}
						}
						gotIno := map[string]uint64{}
						for name, r := range got {
							gotIno[name] = r.Src.Ino
						}
						if !maps.Equal(gotIno, want) {
							t.Fatalf("step %d (%s): Dir(%q) = %v, want %v", step, what, f, gotIno, want)
						}
					}
				}
			})
		}
	}
}

// TestDirsIsDirInOneQuery: Dirs gives, for a batch of folders, what Dir
// gives for each, committed writes and queued ones (puts, deletes, a
// folder deleted whole) alike.
func TestDirsIsDirInOneQuery(t *testing.T) {
	dir := t.TempDir()
	db, _ := open(t, filepath.Join(dir, "x.db"), testBinding(dir))
	rng := rand.New(rand.NewPCG(7, 11))
	var folders []string
	for i := range 100 {
		folders = append(folders, fmt.Sprintf("d%02d", i))
	}
	put := func() {
		for range 600 {
			f := folders[rng.IntN(len(folders))]
			db.Put(fmt.Sprintf("%s/f%d", f, rng.IntN(20)), rec(uint64(rng.IntN(1000)+1), int64(rng.IntN(100))))
		}
	}
	put()
	db.Flush(t.Context())
	put() // queued, not committed yet (most of them)
	db.Delete("d03/f1")
	db.Delete("d07") // the whole folder
	for start := 0; start < len(folders); start += DirsBatch {
		batch := folders[start:min(start+DirsBatch, len(folders))]
		batch = append(batch, "none") // a folder without records
		got, ok := db.Dirs(t.Context(), batch[:min(len(batch), DirsBatch)])
		if !ok {
			t.Fatal("Dirs failed")
		}
		for _, f := range batch[:min(len(batch), DirsBatch)] {
			want := db.Dir(t.Context(), f)
			if !maps.EqualFunc(got[f], want, func(a, b Record) bool { return reflect.DeepEqual(a, b) }) {
				t.Errorf("Dirs()[%s] = %d records, Dir(%s) = %d records", f, len(got[f]), f, len(want))
			}
		}
	}
	if _, ok := db.Dirs(t.Context(), make([]string, DirsBatch+1)); ok {
		t.Error("Dirs took more folders than DirsBatch")
	}
}
