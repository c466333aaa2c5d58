package watcher

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestMountOnWatchedFolder mounts a disk (a tmpfs, and a bind mount of a
// folder outside the root that already holds files) on a watched folder
// while the watcher runs. A mount makes no inotify event; the watcher
// must still report the mount point as a new folder (the daemon scans
// it) and watch the disk's folders, so writes there are reported; after
// the unmount, the folder underneath is watched again.
func TestMountOnWatchedFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	t.Parallel()
	tests := []struct {
		name    string
		mount   func(t *testing.T, outside, target string)
		later   string // written once the mount point is reported
		watches int    // with the disk mounted
	}{
		{"tmpfs", func(t *testing.T, outside, target string) {
			mustMount(t, "-t", "tmpfs", "-o", "size=1m", "tmpfs", target)
			write(t, filepath.Join(target, "before"), "x") // may come before the watcher knows: the scan finds it
		}, "media/after", 3}, // root, other, media (the disk's)
		{"bind mount of a filled folder", func(t *testing.T, outside, target string) {
			write(t, filepath.Join(outside, "sub", "before"), "x")
			mustMount(t, "--bind", outside, target)
		}, "media/sub/after", 4}, // and media/sub
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
			write(t, filepath.Join(root, "media", "under"), "on the root's disk")
			write(t, filepath.Join(root, "other", "f"), "x")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			var lb logBuf
			t.Cleanup(func() {
				if t.Failed() {
					t.Log(lb.String())
				}
			})
			w, rec := start(t, Options{Root: root, Log: slog.New(slog.NewTextHandler(&lb, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			target := filepath.Join(root, "media")
			tt.mount(t, outside, target)
			unmounted := false
			t.Cleanup(func() {
				if !unmounted {
					exec.Command("umount", "-l", target).Run()
				}
			})
			waitEvent(t, rec, Event{Rel: "media", Kind: DirAdded})
			write(t, filepath.Join(root, filepath.FromSlash(tt.later)), "y")
			waitEvent(t, rec, Event{Rel: tt.later, Kind: Changed})
			waitFor(t, waitTimeout, func() error { // the folder underneath is unwatched after orphanGrace
				if got := w.Watches(); got != tt.watches {
					return fmt.Errorf("Watches() = %d with the disk mounted, want %d", got, tt.watches)
				}
				return nil
			})
			if out, err := exec.Command("umount", target).CombinedOutput(); err != nil {
				t.Fatalf("umount: %v: %s", err, out)
			}
			unmounted = true
			waitEvent(t, rec, Event{Rel: "media", Kind: DirAdded})
			write(t, filepath.Join(target, "again"), "z")
			waitEvent(t, rec, Event{Rel: "media/again", Kind: Changed})
			waitFor(t, waitTimeout, func() error {
				if got := w.Watches(); got != 3 {
					return fmt.Errorf("Watches() = %d after the unmount, want 3", got)
				}
				return nil
			})
		})
	}
}

func mustMount(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Fatalf("mount %v: %v: %s", args, err, out)
	}
}
