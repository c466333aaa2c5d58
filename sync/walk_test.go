package sync

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// genFolders makes a tree of folders under dir: fanout subfolders per
// level down to depth, a chain of chain folders, and a file in some, and
// returns how many folders it holds (dir included).
func genFolders(t testing.TB, dir string, fanout, depth, chain int) int {
	t.Helper()
	n := 1
	var gen func(dir string, level int)
	gen = func(dir string, level int) {
		if level == depth {
			return
		}
		for i := range fanout {
			sub := filepath.Join(dir, fmt.Sprintf("d%d", i))
			mkdirAll(t, sub)
			n++
			if i%2 == 0 {
				writeTree(t, sub, map[string]string{"f.txt": "x"})
			}
			gen(sub, level+1)
		}
	}
	gen(dir, 0)
	p := dir
	for i := range chain {
		p = filepath.Join(p, fmt.Sprintf("c%d", i))
		n++
	}
	mkdirAll(t, p)
	return n
}

func TestWalk(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	total := genFolders(t, root, 4, 4, 50) // 341 + 50 folders
	for _, n := range []int{0, 1, 8} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			t.Parallel()
			var (
				mu     sync.Mutex
				visits = map[string]int{}
			)
			walk(t.Context(), n, ".", func(ctx context.Context, rel string, push func(string)) {
				mu.Lock()
				visits[rel]++
				mu.Unlock()
				entries, err := readDir(filepath.Join(root, rel))
				if err != nil {
					t.Errorf("readDir(%q): %v", rel, err)
					return
				}
				for _, e := range entries {
					if e.IsDir() {
						push(filepath.Join(rel, e.Name()))
					}
				}
			})
			err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || !d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(root, p)
				if visits[rel] != 1 {
					t.Errorf("folder %q visited %d times, want 1", rel, visits[rel])
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(visits) != total {
				t.Errorf("visited %d folders, want %d", len(visits), total)
			}
		})
	}
}

func TestWalkCancelled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		cancelAfter int64 // visits before cancelling; 0: cancelled before the walk
	}{
		{"before the walk", 0},
		{"during the walk", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			if tt.cancelAfter == 0 {
				cancel()
			}
			defer cancel()
			var visits, late atomic.Int64
			var cancelled atomic.Bool
			// An endless binary tree: only cancellation ends the walk.
			walk(ctx, 4, 1, func(ctx context.Context, item int, push func(int)) {
				if cancelled.Load() {
					late.Add(1)
				}
				if visits.Add(1) == tt.cancelAfter {
					cancel()
					cancelled.Store(true)
				}
				push(2 * item)
				push(2*item + 1)
			})
			// A walker may be between its check of ctx and its visit when
			// cancel returns: one late visit per walker at most. (Counting
			// all visits would fail when the cancelling walker is
			// descheduled before it cancels.)
			if got := visits.Load(); tt.cancelAfter == 0 && got != 0 {
				t.Errorf("%d folders visited after cancelling first, want 0", got)
			}
			if got := visits.Load(); got < tt.cancelAfter {
				t.Errorf("%d folders visited, want at least %d", got, tt.cancelAfter)
			}
			if got := late.Load(); got > 4 {
				t.Errorf("%d folders visited after cancel returned, want at most one per walker (4)", got)
			}
		})
	}
}
