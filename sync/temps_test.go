package sync

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/internal/exclude"
)

// TestScanSparesTempsInFlight: a scan removes the temp files it lists in
// a destination folder (left by a crash, or orphaned when their folder
// moved during a copy), except those a copy of this process is writing or
// about to rename.
func TestScanSparesTempsInFlight(t *testing.T) {
	t.Parallel()
	dst := t.TempDir()
	flying := newTemp(filepath.Join(dst, "video.mp4"))
	defer tempOver(flying)
	stale := filepath.Join(dst, ".old.copyd-0123456789abcdef.tmp")
	for _, p := range []string{flying, stale} {
		if err := os.WriteFile(p, []byte("part"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := &pairRun{pair: config.Pair{Destination: dst}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), excl: exclude.New(nil), kind: oneShot{}}
	left := map[string]entry{filepath.Base(flying): {name: filepath.Base(flying)}, filepath.Base(stale): {name: filepath.Base(stale)}}
	r.noteExtras("", left, &dirMeta{})
	if _, err := os.Lstat(flying); err != nil {
		t.Errorf("the temp file of a copy in flight was removed: %v", err)
	}
	if _, err := os.Lstat(stale); err == nil {
		t.Error("a stale temp file was left")
	}
	tempOver(flying)
	r.noteExtras("", map[string]entry{filepath.Base(flying): {name: filepath.Base(flying)}}, &dirMeta{})
	if _, err := os.Lstat(flying); err == nil {
		t.Error("a temp file whose copy is over (renamed away under an old path) was left")
	}
}
