//go:build unix

package sync

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/config"
)

// fsyncModes runs a test with fsync off (rename at once) and on (Linux:
// batched by the committer), the two ways a copy reaches its final name.
var fsyncModes = []bool{false, true}

// awkwardTree fills src with names and entries that broke copiers before,
// and returns how many files and symlinks it holds (what Sync copies).
func awkwardTree(t *testing.T, src string) int {
	t.Helper()
	files := map[string]string{
		"python教学视频/第01讲 多进程.mp4":         "video data",
		"python教学视频/第02讲 多线程.mp4":         "more video data",
		"with spaces/a b  c.txt":          "spaces",
		" leading and trailing ":          "blank-edged name",
		"emoji 😀/🎉 party.txt":             "emoji",
		"new\nline.txt":                   "newline in the name",
		strings.Repeat("n", 251) + ".txt": "255-byte name",
		strings.Repeat("教", 85):           "255-byte chinese name",
		"\xff\xfe.bin":                    "invalid utf-8 name",
		"empty":                           "",
		".hidden":                         "dot file",
		".x.tmp":                          "a user's temp-like name",
		".a.copyd.tmp":                    "not copyd's either (no .copyd- infix)",
	}
	deep := ""
	for i := range 60 {
		deep = filepath.Join(deep, fmt.Sprintf("d%02d", i))
	}
	files[filepath.ToSlash(filepath.Join(deep, "leaf.txt"))] = "60 folders down"
	writeTree(t, src, files)
	writeFile(t, filepath.Join(src, "script.sh"), "#!/bin/sh\n", 0o755, baseTime)
	writeFile(t, filepath.Join(src, "private"), "mine", 0o600, baseTime)
	writeFile(t, filepath.Join(src, "readonly"), "ro", 0o444, baseTime)
	mkdirAll(t, filepath.Join(src, "empty folder"))
	mkdirAll(t, filepath.Join(src, "locked folder"))
	writeTree(t, filepath.Join(src, "locked folder"), map[string]string{"inside": "x"})
	chmod(t, filepath.Join(src, "locked folder"), 0o500)
	mkdirAll(t, filepath.Join(src, "setgid folder"))
	chmod(t, filepath.Join(src, "setgid folder"), 0o2775)
	links := map[string]string{
		"links/relative":   "../with spaces/a b  c.txt",
		"links/absolute":   filepath.Join(src, "empty"),
		"links/dangling":   "does/not/exist",
		"links/to folder":  "../python教学视频",
		"links/loop-a":     "loop-b",
		"links/loop-b":     "loop-a",
		"links/self":       "self",
		"links/to outside": "/etc",
	}
	for name, target := range links {
		symlink(t, target, filepath.Join(src, name))
	}
	if err := syscall.Mkfifo(filepath.Join(src, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	setMtime(t, filepath.Join(src, "python教学视频"), baseTime.Add(-time.Hour))
	return len(files) + 3 + 1 + len(links)
}

func TestSyncAwkwardTree(t *testing.T) {
	t.Parallel()
	for _, fsync := range fsyncModes {
		t.Run(fsyncName(fsync), func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			p.Fsync = fsync
			n := int64(awkwardTree(t, p.Source))

			sum := runSync(t, p)
			if sum.Copied != n || sum.Special != 1 || sum.Failed != 0 || sum.UpToDate != 0 {
				t.Errorf("first Sync() = copied %d, special %d, failed %d, up to date %d; want %d, 1, 0, 0%s",
					sum.Copied, sum.Special, sum.Failed, sum.UpToDate, n, failureList(sum.Failures))
			}
			assertTreesEqual(t, p.Source, p.Destination)
			assertNoTemps(t, p.Destination)

			sum = runSync(t, p)
			if sum.Copied != 0 || sum.UpToDate != n || sum.Special != 1 || sum.Failed != 0 {
				t.Errorf("second Sync() = copied %d, up to date %d, special %d, failed %d; want 0, %d, 1, 0%s",
					sum.Copied, sum.UpToDate, sum.Special, sum.Failed, n, failureList(sum.Failures))
			}
			assertTreesEqual(t, p.Source, p.Destination)
			assertNoTemps(t, p.Destination)
		})
	}
}

// syncedPair returns a pair whose destination already holds a copy of
// baseTree (three files in two folders and a symlink).
func syncedPair(t *testing.T, fsync bool) config.Pair {
	t.Helper()
	p := newPair(t)
	p.Fsync = fsync
	writeTree(t, p.Source, baseTree)
	symlink(t, "a.txt", filepath.Join(p.Source, "l"))
	if sum := runSync(t, p); sum.Copied != baseCount || sum.Failed != 0 {
		t.Fatalf("initial Sync() = copied %d, failed %d; want %d, 0%s", sum.Copied, sum.Failed, baseCount, failureList(sum.Failures))
	}
	return p
}

var baseTree = map[string]string{"a.txt": "alpha", "dir/b.txt": "bravo", "dir/sub/c.txt": "charlie"}

const baseCount = 4 // baseTree's files and the symlink

// want is the part of a Summary a case checks; -1 means "any".
type want struct{ copied, upToDate, deleted, archived, failed int64 }

func (w want) check(t *testing.T, sum Summary) {
	t.Helper()
	got := want{sum.Copied, sum.UpToDate, sum.Deleted, sum.Archived, sum.Failed}
	for _, f := range []struct {
		name      string
		got, want int64
	}{
		{"copied", got.copied, w.copied}, {"up to date", got.upToDate, w.upToDate},
		{"deleted", got.deleted, w.deleted}, {"archived", got.archived, w.archived},
		{"failed", got.failed, w.failed},
	} {
		if f.want >= 0 && f.got != f.want {
			t.Errorf("Sync() %s = %d, want %d%s", f.name, f.got, f.want, failureList(sum.Failures))
		}
	}
}

// TestSyncChanges changes an already copied tree and syncs again.
func TestSyncChanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		pair   func(p *config.Pair)
		change func(t *testing.T, src, dst string)
		want   want
		// check replaces the default check (trees equal) when set.
		check func(t *testing.T, p config.Pair, sum Summary)
	}{
		{
			name:   "nothing changed",
			change: func(t *testing.T, src, dst string) {},
			want:   want{0, baseCount, 0, 0, 0},
		},
		{
			name: "modified file is copied",
			change: func(t *testing.T, src, dst string) {
				writeFile(t, filepath.Join(src, "a.txt"), "ALPHA, longer", 0o644, baseTime.Add(time.Hour))
			},
			want: want{1, baseCount - 1, 0, 0, 0},
		},
		{
			name: "modified file, same size, is copied",
			change: func(t *testing.T, src, dst string) {
				writeFile(t, filepath.Join(src, "dir/b.txt"), "BRAVO", 0o644, baseTime.Add(time.Second))
			},
			want: want{1, baseCount - 1, 0, 0, 0},
		},
		{
			name: "only mtime changed is copied",
			change: func(t *testing.T, src, dst string) {
				setMtime(t, filepath.Join(src, "a.txt"), baseTime.Add(-time.Hour))
			},
			want: want{1, baseCount - 1, 0, 0, 0},
		},
		{
			name: "only mode changed is fixed without a copy",
			change: func(t *testing.T, src, dst string) {
				chmod(t, filepath.Join(src, "a.txt"), 0o600)
				chmod(t, filepath.Join(src, "dir/sub/c.txt"), 0o755)
			},
			want: want{0, baseCount, 0, 0, 0},
		},
		{
			name: "folder mode and mtime changed",
			change: func(t *testing.T, src, dst string) {
				chmod(t, filepath.Join(src, "dir"), 0o700)
				setMtime(t, filepath.Join(src, "dir/sub"), baseTime)
				setMtime(t, src, baseTime.Add(time.Minute))
			},
			want: want{0, baseCount, 0, 0, 0},
		},
		{
			name: "new file in a new folder",
			change: func(t *testing.T, src, dst string) {
				writeTree(t, src, map[string]string{"new/folder/n.txt": "new"})
			},
			want: want{1, baseCount, 0, 0, 0},
		},
		{
			name: "stale temp files in the destination are removed",
			change: func(t *testing.T, src, dst string) {
				writeTree(t, dst, map[string]string{
					".x.copyd-0123456789abcdef.tmp":         "stale",
					"dir/.b.txt.copyd-fedcba9876543210.tmp": "stale",
					"dir/.c.copyd-12345678.tmp":             "another build's",
				})
			},
			want: want{0, baseCount, 0, 0, 0},
		},
		{
			name: "user files that look like temps are copied",
			change: func(t *testing.T, src, dst string) {
				writeTree(t, src, map[string]string{".x.tmp": "mine", ".a.copyd.tmp": "mine too", "a.copyd-0123456789abcdef.tmp": "and mine"})
			},
			want: want{3, baseCount, 0, 0, 0},
		},
		{
			name: "symlink target changed",
			change: func(t *testing.T, src, dst string) {
				removeAll(t, filepath.Join(src, "l"))
				symlink(t, "dir/b.txt", filepath.Join(src, "l"))
			},
			want: want{1, baseCount - 1, 0, 0, 0},
		},
		{
			name: "file replaced by a symlink",
			change: func(t *testing.T, src, dst string) {
				removeAll(t, filepath.Join(src, "a.txt"))
				symlink(t, "/nowhere", filepath.Join(src, "a.txt"))
			},
			want: want{1, baseCount - 1, 0, 0, 0},
		},
		{
			name: "symlink replaced by a file",
			change: func(t *testing.T, src, dst string) {
				removeAll(t, filepath.Join(src, "l"))
				writeTree(t, src, map[string]string{"l": "now a file"})
			},
			want: want{1, baseCount - 1, 0, 0, 0},
		},
		{
			name: "destination folder is a symlink to outside",
			change: func(t *testing.T, src, dst string) {
				outside := filepath.Join(filepath.Dir(dst), "outside")
				writeTree(t, outside, map[string]string{"b.txt": "outside, not a copy", "sub/c.txt": "outside"})
				removeAll(t, filepath.Join(dst, "dir"))
				symlink(t, outside, filepath.Join(dst, "dir"))
			},
			want: want{2, baseCount - 2, 0, 0, 0},
			check: func(t *testing.T, p config.Pair, sum Summary) {
				assertTreesEqual(t, p.Source, p.Destination)
				outside := filepath.Join(filepath.Dir(p.Destination), "outside")
				assertContent(t, filepath.Join(outside, "b.txt"), "outside, not a copy")
				assertContent(t, filepath.Join(outside, "sub/c.txt"), "outside")
				entries, _ := os.ReadDir(outside)
				if len(entries) != 2 {
					t.Errorf("outside folder has %d entries, want its 2", len(entries))
				}
			},
		},
		{
			name: "destination file is a symlink to outside",
			change: func(t *testing.T, src, dst string) {
				outside := filepath.Join(filepath.Dir(dst), "outside.txt")
				writeTree(t, filepath.Dir(dst), map[string]string{"outside.txt": "outside"})
				removeAll(t, filepath.Join(dst, "a.txt"))
				symlink(t, outside, filepath.Join(dst, "a.txt"))
			},
			want: want{1, baseCount - 1, 0, 0, 0},
			check: func(t *testing.T, p config.Pair, sum Summary) {
				assertTreesEqual(t, p.Source, p.Destination)
				assertContent(t, filepath.Join(filepath.Dir(p.Destination), "outside.txt"), "outside")
			},
		},
		{
			name: "destination has a file where the source has a folder",
			change: func(t *testing.T, src, dst string) {
				removeAll(t, filepath.Join(dst, "dir"))
				writeTree(t, dst, map[string]string{"dir": "a file in the way"})
			},
			want: want{2, baseCount - 2, 0, 0, 0},
		},
		{
			name: "source folder became a file, delete: false",
			change: func(t *testing.T, src, dst string) {
				removeAll(t, filepath.Join(src, "dir"))
				writeTree(t, src, map[string]string{"dir": "now a file"})
			},
			want: want{0, 2, 0, 0, 1},
			check: func(t *testing.T, p config.Pair, sum Summary) {
				if len(sum.Failures) != 1 || !errors.Is(sum.Failures[0], ErrTypeConflict) || sum.Failures[0].Path != "dir" {
					t.Errorf("Sync() failures = %s, want one on \"dir\" matching ErrTypeConflict", failureList(sum.Failures))
				}
				assertContent(t, filepath.Join(p.Destination, "dir/b.txt"), "bravo")
				assertContent(t, filepath.Join(p.Destination, "dir/sub/c.txt"), "charlie")
			},
		},
		{
			name: "source folder became a file, delete: true",
			pair: func(p *config.Pair) { p.Delete = true },
			change: func(t *testing.T, src, dst string) {
				removeAll(t, filepath.Join(src, "dir"))
				writeTree(t, src, map[string]string{"dir": "now a file"})
			},
			want: want{1, 2, -1, 0, 0},
		},
		{
			name: "owner changed only is fixed without a copy",
			change: func(t *testing.T, src, dst string) {
				if os.Geteuid() != 0 {
					t.Skip("giving files away needs root")
				}
				if err := os.Lchown(filepath.Join(src, "a.txt"), 65534, 65534); err != nil {
					t.Fatal(err)
				}
			},
			want: want{0, baseCount, 0, 0, 0},
			check: func(t *testing.T, p config.Pair, sum Summary) {
				assertTreesEqual(t, p.Source, p.Destination)
				if uid, gid, _ := owner(lstat(t, filepath.Join(p.Destination, "a.txt"))); uid != 65534 || gid != 65534 {
					t.Errorf("dst a.txt owner = %d:%d, want 65534:65534", uid, gid)
				}
			},
		},
	}
	for _, fsync := range fsyncModes {
		for _, tt := range tests {
			t.Run(fsyncName(fsync)+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				p := syncedPair(t, fsync)
				if tt.pair != nil {
					tt.pair(&p)
				}
				inodes := inodesOf(t, p.Destination)
				tt.change(t, p.Source, p.Destination)
				sum := runSync(t, p)
				tt.want.check(t, sum)
				if tt.check != nil {
					tt.check(t, p, sum)
				} else {
					assertTreesEqual(t, p.Source, p.Destination)
				}
				if tt.want.copied == 0 && tt.want.failed == 0 {
					for rel, ino := range inodesOf(t, p.Destination) {
						if old, ok := inodes[rel]; ok && old != ino {
							t.Errorf("%q was rewritten, want it left in place", rel)
						}
					}
				}
				assertNoTemps(t, p.Destination)
			})
		}
	}
}

// inodesOf maps every file under dir to its inode number.
func inodesOf(t *testing.T, dir string) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				rel, _ := filepath.Rel(dir, p)
				m[rel] = fi.Sys().(*syscall.Stat_t).Ino
			}
		}
		return nil
	})
	return m
}

func TestSyncDelete(t *testing.T) {
	t.Parallel()
	extras := map[string]string{"extra.txt": "x", "dir/extra2.txt": "x", "gone/x.txt": "x", "gone/deeper/y.txt": "y"}
	tests := []struct {
		name    string
		pair    func(p *config.Pair)
		extras  map[string]string // written into the destination after the first copy
		source  map[string]string // written into the source after the first copy
		want    want
		kept    []string // extras that must survive
		removed []string // extras that must be gone
	}{
		{
			name:   "delete: false keeps extras",
			extras: extras,
			want:   want{0, baseCount, 0, 0, 0},
			kept:   []string{"extra.txt", "dir/extra2.txt", "gone/x.txt", "gone/deeper/y.txt"},
		},
		{
			name:    "delete: true removes extra files and whole folders",
			pair:    func(p *config.Pair) { p.Delete = true },
			extras:  extras,
			want:    want{0, baseCount, 3, 0, 0},
			removed: []string{"extra.txt", "dir/extra2.txt", "gone"},
		},
		{
			name: "delete: true keeps excluded extras",
			pair: func(p *config.Pair) { p.Delete = true; p.Exclude = []string{"*.keep", "cache/"} },
			extras: map[string]string{
				"extra.txt": "x", "a.keep": "x", "dir/b.keep": "x", "cache/big.bin": "x", "dir/sub/cache/c": "x",
			},
			want:    want{0, baseCount, 1, 0, 0},
			kept:    []string{"a.keep", "dir/b.keep", "cache", "dir/sub/cache"},
			removed: []string{"extra.txt"},
		},
		{
			// Excluded paths are "neither copied nor deleted" (excluder),
			// also when they sit in a folder that is otherwise extra.
			name:    "delete: true keeps excluded files inside an extra folder",
			pair:    func(p *config.Pair) { p.Delete = true; p.Exclude = []string{"*.keep"} },
			extras:  map[string]string{"gone/x.txt": "x", "gone/notes.keep": "keep me"},
			want:    want{0, baseCount, -1, 0, 0},
			kept:    []string{"gone/notes.keep"},
			removed: []string{"gone/x.txt"},
		},
		{
			// A crash leaves temps in a folder whose source then moved
			// away: without delete no scan looks inside it again.
			name: "temps a crash left in a kept extra folder are removed",
			extras: map[string]string{
				"gone/x.txt": "x", "gone/.x.txt.copyd-0123456789abcdef.tmp": "stale",
				"gone/deep/.y.copyd-fedcba9876543210.tmp": "stale",
			},
			want:    want{0, baseCount, 0, 0, 0},
			kept:    []string{"gone/x.txt", "gone/deep"},
			removed: []string{"gone/.x.txt.copyd-0123456789abcdef.tmp", "gone/deep/.y.copyd-fedcba9876543210.tmp"},
		},
		{
			// The same where the source has a file under the folder's
			// name: without delete the folder stays (a type conflict).
			name: "temps a crash left in a folder the source made a file are removed",
			extras: map[string]string{
				"gone/.x.copyd-0123456789abcdef.tmp": "stale", "gone/keep.txt": "kept",
			},
			source:  map[string]string{"gone": "a file now"},
			want:    want{0, baseCount, 0, 0, 1}, // the file cannot replace the folder
			kept:    []string{"gone/keep.txt"},
			removed: []string{"gone/.x.copyd-0123456789abcdef.tmp"},
		},
		{
			name:    "delete: true removes an extra symlink, not its target",
			pair:    func(p *config.Pair) { p.Delete = true },
			extras:  map[string]string{},
			want:    want{0, baseCount, 1, 0, 0},
			removed: []string{"link-to-dir"},
		},
	}
	for _, fsync := range fsyncModes {
		for _, tt := range tests {
			t.Run(fsyncName(fsync)+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				p := syncedPair(t, fsync)
				if tt.pair != nil {
					tt.pair(&p)
				}
				writeTree(t, p.Destination, tt.extras)
				writeTree(t, p.Source, tt.source)
				if slices.Contains(tt.removed, "link-to-dir") {
					symlink(t, "dir", filepath.Join(p.Destination, "link-to-dir"))
				}
				sum := runSync(t, p)
				tt.want.check(t, sum)
				for _, rel := range tt.kept {
					if _, err := os.Lstat(filepath.Join(p.Destination, rel)); err != nil {
						t.Errorf("%q was deleted, want it kept", rel)
					}
				}
				for _, rel := range tt.removed {
					assertMissing(t, filepath.Join(p.Destination, rel))
				}
				assertTreesEqual(t, p.Source, p.Destination, append(tt.kept, "gone")...)
				assertNoTemps(t, p.Destination)
			})
		}
	}
}

// TestSyncDeleteBrake: an empty source root next to a full destination
// looks like an unmounted disk; delete: true must delete nothing then,
// also when the folder it was mounted on holds only excluded entries.
func TestSyncDeleteBrake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     map[string]string // the source root's entries
		exclude []string
		brake   string // in the log
	}{
		{"empty root", nil, nil, brakeEmptyRoot},
		{"only an excluded file", map[string]string{".x.swp": "stray"}, []string{"*.swp"}, brakeExcludedRoot},
		{"only an excluded folder", map[string]string{"cache/c": "stray"}, []string{"cache/"}, brakeExcludedRoot},
	}
	for _, tt := range tests {
		for _, archive := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/archive=%v", tt.name, archive), func(t *testing.T) {
				t.Parallel()
				p := newPair(t)
				p.Delete = true
				p.Exclude = tt.exclude
				if archive {
					p.Archive = filepath.Join(filepath.Dir(p.Source), "archive")
				}
				writeTree(t, p.Source, tt.src)
				writeTree(t, p.Destination, baseTree)
				before := listTree(t, p.Destination)
				delete(before, ".") // the root's mtime may follow the source's
				logs := new(lockedBuffer)
				opts := testOptions(t)
				opts.Log = slog.New(slog.NewTextHandler(logs, nil))
				sum, err := Sync(t.Context(), []config.Pair{p}, opts)
				if err != nil {
					t.Fatalf("Sync() error = %v", err)
				}
				want{0, 0, 0, 0, -1}.check(t, sum)
				assertUnchanged(t, before, p.Destination)
				if archive {
					assertMissing(t, p.Archive)
				}
				if l := logs.String(); !strings.Contains(l, `msg="deleting nothing: `+tt.brake+";") {
					t.Errorf("no %q brake in the log:\n%s", tt.brake, l)
				}
			})
		}
	}
}

// archivedRE matches an archived name: the original, a UTC timestamp and
// an optional counter.
func archivedRE(name string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `\.\d{4}-\d\d-\d\dT\d{6}Z(-\d+)?$`)
}

// archived returns the contents of the archived versions of rel under
// archive (sorted), for files; for folders the names.
func archived(t *testing.T, archive, rel string) []string {
	t.Helper()
	dir := filepath.Join(archive, filepath.Dir(rel))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Errorf("archive folder %s: %v", dir, err)
		return nil
	}
	re := archivedRE(filepath.Base(rel))
	var got []string
	for _, e := range entries {
		if !re.MatchString(e.Name()) {
			continue
		}
		if e.IsDir() {
			got = append(got, e.Name()+"/")
		} else {
			got = append(got, readFile(t, filepath.Join(dir, e.Name())))
		}
	}
	slices.Sort(got)
	return got
}

func TestSyncArchive(t *testing.T) {
	t.Parallel()
	for _, fsync := range fsyncModes {
		t.Run(fsyncName(fsync), func(t *testing.T) {
			t.Parallel()
			p := syncedPair(t, fsync)
			p.Delete = true
			p.Archive = filepath.Join(filepath.Dir(p.Source), "archive")

			writeFile(t, filepath.Join(p.Source, "a.txt"), "alpha v2", 0o644, baseTime.Add(time.Hour))
			removeAll(t, filepath.Join(p.Source, "dir/b.txt"))
			removeAll(t, filepath.Join(p.Source, "dir/sub"))
			removeAll(t, filepath.Join(p.Source, "l"))
			symlink(t, "dir", filepath.Join(p.Source, "l"))
			sum := runSync(t, p)
			want{2, 0, 2, 4, 0}.check(t, sum) // a.txt and l replaced, dir/b.txt and dir/sub deleted
			assertTreesEqual(t, p.Source, p.Destination)
			assertNoTemps(t, p.Destination)

			if got := archived(t, p.Archive, "a.txt"); !slices.Equal(got, []string{"alpha"}) {
				t.Errorf("archived a.txt = %q, want the old content [alpha]", got)
			}
			if got := archived(t, p.Archive, "dir/b.txt"); !slices.Equal(got, []string{"bravo"}) {
				t.Errorf("archived dir/b.txt = %q, want [bravo]", got)
			}
			if got := archived(t, p.Archive, "dir/sub"); len(got) != 1 {
				t.Errorf("archived dir/sub = %q, want one folder", got)
			} else {
				assertContent(t, filepath.Join(p.Archive, "dir", strings.TrimSuffix(got[0], "/"), "c.txt"), "charlie")
			}
			if entries, _ := filepath.Glob(filepath.Join(p.Archive, "l.*")); len(entries) != 1 {
				t.Errorf("archived l = %q, want one symlink", entries)
			} else if target, err := os.Readlink(entries[0]); err != nil || target != "a.txt" {
				t.Errorf("archived l -> %q (%v), want a.txt", target, err)
			}

			// A second version archived in the same second gets its own name.
			writeFile(t, filepath.Join(p.Source, "a.txt"), "alpha v3", 0o644, baseTime.Add(2*time.Hour))
			sum = runSync(t, p)
			want{1, -1, 0, 1, 0}.check(t, sum)
			if got := archived(t, p.Archive, "a.txt"); !slices.Equal(got, []string{"alpha", "alpha v2"}) {
				t.Errorf("archived a.txt = %q, want [alpha alpha v2]", got)
			}
			assertTreesEqual(t, p.Source, p.Destination)
			assertNoTemps(t, p.Archive)
		})
	}
}

func TestSyncDryRun(t *testing.T) {
	t.Parallel()
	t.Run("new destination", func(t *testing.T) {
		t.Parallel()
		p := newPair(t)
		writeTree(t, p.Source, baseTree)
		symlink(t, "a.txt", filepath.Join(p.Source, "l"))
		var plan bytes.Buffer
		o := testOptions(t)
		o.DryRun, o.Plan = true, &plan
		sum, err := Sync(t.Context(), []config.Pair{p}, o)
		if err != nil {
			t.Fatalf("Sync() error = %v", err)
		}
		want{baseCount, 0, 0, 0, 0}.check(t, sum)
		assertMissing(t, p.Destination)
		assertPlan(t, plan.String(), []string{
			`mkdir   test: "."`,
			`mkdir   test: "dir"`,
			`mkdir   test: "dir/sub"`,
			`copy    test: "a.txt"`,
			`copy    test: "dir/b.txt"`,
			`copy    test: "dir/sub/c.txt"`,
			`link    test: "l" -> a.txt`,
		})
	})
	t.Run("existing destination", func(t *testing.T) {
		t.Parallel()
		p := syncedPair(t, false)
		p.Delete = true
		writeFile(t, filepath.Join(p.Source, "a.txt"), "changed", 0o644, baseTime.Add(time.Hour))
		chmod(t, filepath.Join(p.Source, "dir/b.txt"), 0o600)
		writeTree(t, p.Source, map[string]string{"new\nname": "new"})
		writeTree(t, p.Destination, map[string]string{"extra.txt": "x", ".s.copyd-0123456789abcdef.tmp": "stale"})
		before := listTree(t, p.Destination)
		var plan bytes.Buffer
		o := testOptions(t)
		o.DryRun, o.Plan = true, &plan
		sum, err := Sync(t.Context(), []config.Pair{p}, o)
		if err != nil {
			t.Fatalf("Sync() error = %v", err)
		}
		want{2, baseCount - 1, 1, 0, 0}.check(t, sum)
		assertUnchanged(t, before, p.Destination)
		assertPlan(t, plan.String(), []string{
			`copy    test: "a.txt"`,
			`copy    test: "new\nname"`,
			`attrs   test: "dir/b.txt"`,
			`delete  test: "extra.txt"`,
		})
	})
}

// assertPlan compares dry-run output with the wanted lines, in any order.
func assertPlan(t *testing.T, got string, want []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	slices.Sort(lines)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Errorf("plan =\n%s\nwant (any order)\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestSyncExclude(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	p.Exclude = []string{"cache/", "*.tmp", "!keep.tmp", "/top-only", "**/build", "~$*", ".DS_Store"}
	writeTree(t, p.Source, map[string]string{
		"cache/x.bin": "x", "cache/sub/y.bin": "y", "a/cache/z.bin": "z",
		"a.tmp": "x", "a/b.tmp": "x", "keep.tmp": "kept", "a/keep.tmp": "kept",
		"top-only": "x", "a/top-only": "kept",
		"build/out.o": "x", "a/b/build/out.o": "x",
		"~$report.docx": "x", ".DS_Store": "x", "a/.DS_Store": "x",
		"other/cache": "a file named cache is kept", "main.go": "kept",
	})
	sum := runSync(t, p)
	want{5, 0, 0, 0, 0}.check(t, sum)
	for _, rel := range []string{"keep.tmp", "a/keep.tmp", "a/top-only", "other/cache", "main.go"} {
		if _, err := os.Lstat(filepath.Join(p.Destination, rel)); err != nil {
			t.Errorf("%q not copied: %v", rel, err)
		}
	}
	for _, rel := range []string{"cache", "a/cache", "a.tmp", "a/b.tmp", "top-only", "build", "a/b/build", "~$report.docx", ".DS_Store", "a/.DS_Store"} {
		assertMissing(t, filepath.Join(p.Destination, rel))
	}
	assertTreesEqual(t, p.Source, p.Destination,
		"cache", "a/cache", "a.tmp", "a/b.tmp", "top-only", "build", "a/b/build", "~$report.docx", ".DS_Store", "a/.DS_Store")
}

func TestSyncChecksum(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		checksum bool
		content  string // new source content, same size and mtime
		want     want
		wantDst  string
	}{
		{"a rewrite that kept size and mtime is copied", false, "ALPHA", want{1, baseCount - 1, 0, 0, 0}, "ALPHA"},
		{"checksum copies different content", true, "ALPHA", want{1, baseCount - 1, 0, 0, 0}, "ALPHA"},
		{"checksum leaves equal content", true, "alpha", want{0, baseCount, 0, 0, 0}, "alpha"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := syncedPair(t, false)
			p.Checksum = tt.checksum
			writeFile(t, filepath.Join(p.Source, "a.txt"), tt.content, 0o644, baseTime)
			sum := runSync(t, p)
			tt.want.check(t, sum)
			assertContent(t, filepath.Join(p.Destination, "a.txt"), tt.wantDst)
			if tt.wantDst == tt.content {
				assertTreesEqual(t, p.Source, p.Destination)
			}
			assertNoTemps(t, p.Destination)
		})
	}
}

func TestSyncTwoPairs(t *testing.T) {
	t.Parallel()
	a, b := newPair(t), newPair(t)
	a.Name, b.Name = "a", "b"
	writeTree(t, a.Source, baseTree)
	writeTree(t, b.Source, map[string]string{"x/y/z.txt": "zulu", "w.txt": "whiskey"})
	b.Fsync = true
	sum := runSync(t, a, b)
	want{5, 0, 0, 0, 0}.check(t, sum)
	if sum.Bytes != int64(len("alpha")+len("bravo")+len("charlie")+len("zulu")+len("whiskey")) {
		t.Errorf("Sync() bytes = %d, want the sum of both trees", sum.Bytes)
	}
	assertTreesEqual(t, a.Source, a.Destination)
	assertTreesEqual(t, b.Source, b.Destination)
	sum = runSync(t, a, b)
	want{0, 5, 0, 0, 0}.check(t, sum)
}

func TestSyncMissingSource(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	good := newPair(t)
	good.Name = "good"
	writeTree(t, good.Source, baseTree)
	removeAll(t, p.Source)
	sum, err := Sync(t.Context(), []config.Pair{p, good}, testOptions(t))
	if err == nil {
		t.Error("Sync() with a missing source returned no error")
	}
	if sum.Copied != 3 {
		t.Errorf("Sync() copied %d, want the other pair's 3", sum.Copied)
	}
	assertMissing(t, p.Destination)
	assertTreesEqual(t, good.Source, good.Destination)
}
