package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRenamesKeepWatches renames folders in every way the kernel allows
// and then writes a file in each folder that was moved: every write must
// be reported under the folder's new path, and the number of watches must
// match the tree. fsnotify, which files its watches by path, lost the
// folders of a rename over an existing folder and of an exchange.
func TestRenamesKeepWatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   []string // written before the watcher starts
		act     func(t *testing.T, root string)
		writes  []string // then written, each must be reported
		watches int
	}{
		{
			name:  "rename over an empty folder (mv -T)",
			files: []string{"A/sub/f", "B/"},
			act: func(t *testing.T, root string) {
				// rename(2) itself: os.Rename refuses to replace a folder.
				if err := unix.Rename(filepath.Join(root, "A"), filepath.Join(root, "B")); err != nil {
					t.Fatal(err)
				}
			},
			writes:  []string{"B/g", "B/sub/g"},
			watches: 3,
		},
		{
			name:  "exchange two folders",
			files: []string{"A/sub/f", "B/other/f"},
			act: func(t *testing.T, root string) {
				exchange(t, filepath.Join(root, "A"), filepath.Join(root, "B"))
			},
			writes:  []string{"A/g", "A/other/g", "B/g", "B/sub/g"},
			watches: 5,
		},
		{
			name:  "exchange a folder and a file",
			files: []string{"A/sub/f", "F"},
			act: func(t *testing.T, root string) {
				exchange(t, filepath.Join(root, "A"), filepath.Join(root, "F"))
			},
			writes:  []string{"F/g", "F/sub/g"},
			watches: 3,
		},
		{
			name:  "exchange folders in different parents",
			files: []string{"p/A/sub/f", "q/B/f"},
			act: func(t *testing.T, root string) {
				exchange(t, filepath.Join(root, "p", "A"), filepath.Join(root, "q", "B"))
			},
			writes:  []string{"p/A/g", "q/B/g", "q/B/sub/g"},
			watches: 6,
		},
		{
			name:  "rename a watched parent, then a child in it",
			files: []string{"P/A/sub/f"},
			act: func(t *testing.T, root string) {
				rename(t, filepath.Join(root, "P", "A"), filepath.Join(root, "P", "B"))
				rename(t, filepath.Join(root, "P"), filepath.Join(root, "Q"))
			},
			writes:  []string{"Q/g", "Q/B/g", "Q/B/sub/g"},
			watches: 4,
		},
		{
			name:  "folder made in a parent that is renamed",
			files: []string{"P/f"},
			act: func(t *testing.T, root string) {
				if err := os.Mkdir(filepath.Join(root, "P", "new"), 0o755); err != nil {
					t.Fatal(err)
				}
				rename(t, filepath.Join(root, "P"), filepath.Join(root, "Q"))
			},
			writes:  []string{"Q/new/g"},
			watches: 3,
		},
		{
			name:  "out and back in",
			files: []string{"A/sub/f"},
			act: func(t *testing.T, root string) {
				out := filepath.Join(filepath.Dir(root), filepath.Base(root)+"-out")
				if err := os.Mkdir(out, 0o755); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(out) })
				rename(t, filepath.Join(root, "A"), filepath.Join(out, "A"))
				rename(t, filepath.Join(out, "A"), filepath.Join(root, "B"))
			},
			writes:  []string{"B/g", "B/sub/g"},
			watches: 3,
		},
		{
			name:  "folder made below a folder that goes out and comes back",
			files: []string{"P/A/f"},
			act: func(t *testing.T, root string) {
				out := filepath.Join(filepath.Dir(root), filepath.Base(root)+"-out2")
				if err := os.Mkdir(out, 0o755); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(out) })
				if err := os.Mkdir(filepath.Join(root, "P", "A", "new"), 0o755); err != nil {
					t.Fatal(err)
				}
				rename(t, filepath.Join(root, "P"), filepath.Join(out, "P"))
				rename(t, filepath.Join(out, "P"), filepath.Join(root, "Q"))
			},
			writes:  []string{"Q/A/g", "Q/A/new/g"},
			watches: 4,
		},
		{
			name:  "swap through a third name",
			files: []string{"A/a/f", "B/b/f"},
			act: func(t *testing.T, root string) {
				rename(t, filepath.Join(root, "A"), filepath.Join(root, "T"))
				rename(t, filepath.Join(root, "B"), filepath.Join(root, "A"))
				rename(t, filepath.Join(root, "T"), filepath.Join(root, "B"))
			},
			writes:  []string{"A/b/g", "B/a/g"},
			watches: 5,
		},
		{
			name:  "chain a to b to c to a",
			files: []string{"a/x/f", "b/y/f", "c/z/f"},
			act: func(t *testing.T, root string) {
				rename(t, filepath.Join(root, "a"), filepath.Join(root, "t"))
				rename(t, filepath.Join(root, "c"), filepath.Join(root, "a"))
				rename(t, filepath.Join(root, "b"), filepath.Join(root, "c"))
				rename(t, filepath.Join(root, "t"), filepath.Join(root, "b"))
			},
			writes:  []string{"a/z/g", "b/x/g", "c/y/g"},
			watches: 7,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			for _, f := range tt.files {
				p := filepath.Join(root, filepath.FromSlash(f))
				if f[len(f)-1] == '/' {
					if err := os.MkdirAll(p, 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				write(t, p, "x")
			}
			w, rec := startWatcher(t, root, nil)
			tt.act(t, root)
			// A barrier: once it is reported, the renames' events were read.
			write(t, filepath.Join(root, "barrier"), "x")
			waitEvent(t, rec, Event{Rel: "barrier", Kind: Changed})
			for _, rel := range tt.writes {
				write(t, filepath.Join(root, filepath.FromSlash(rel)), "x")
				waitEvent(t, rec, Event{Rel: rel, Kind: Closed})
			}
			waitFor(t, waitTimeout, func() error {
				if got := w.Watches(); got != tt.watches {
					return fmt.Errorf("Watches() = %d, want %d", got, tt.watches)
				}
				return nil
			})
		})
	}
}

// TestWriterEvents checks what a writer that pauses with the file open
// produces: Written while it writes, Closed only when it closes.
func TestWriterEvents(t *testing.T) {
	t.Parallel()
	root, _, rec := watchTree(t, nil)
	f, err := os.Create(filepath.Join(root, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("half"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, rec, Event{Rel: "f", Kind: Written})
	assertQuietExcept(t, root, rec, Event{Rel: "f", Kind: Written})
	if _, err := f.WriteString(" and the rest"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, rec, Event{Rel: "f", Kind: Closed})
}

// assertQuietExcept is assertQuiet allowing more of ok.
func assertQuietExcept(t *testing.T, root string, rec *recorder, ok Event) {
	t.Helper()
	write(t, filepath.Join(root, "sentinel"), "x")
	for _, ev := range waitEvent(t, rec, Event{Rel: "sentinel", Kind: Changed}) {
		if ev != ok {
			t.Errorf("unexpected event %v before the sentinel", ev)
		}
	}
}

func exchange(t *testing.T, a, b string) {
	t.Helper()
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		t.Fatalf("renameat2(%s, %s, RENAME_EXCHANGE): %v", a, b, err)
	}
}
