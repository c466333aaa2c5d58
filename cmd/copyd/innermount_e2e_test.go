//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/copyd/copyd/internal/treetest"
)

// TestInnerMountUnmounted: a folder inside the source is the mount point of
// another disk (src/media); with delete, the disk unmounted (unplugged, or
// not yet mounted after a reboot) must wipe nothing of its backup — while
// copyd is stopped (the next sync, the next daemon start) and while the
// daemon runs (the watcher polls the mount table). The root brake does not cover it: the source
// root has files. Once the disk is back its files are mirrored again.
func TestInnerMountUnmounted(t *testing.T) {
	requireRoot(t, "mounting a tmpfs inside the source")
	tests := []struct {
		name string
		run  func(t *testing.T, src, dst string, flags []string, unmount, remount func()) // unmounts, checks, remounts
	}{
		{"copyd sync", func(t *testing.T, src, dst string, flags []string, unmount, remount func()) {
			syncOK(t, src, dst, flags...)
			before := listDst(t, dst)
			unmount()
			r := syncOK(t, src, dst, flags...)
			if !strings.Contains(r.stderr, "deleting nothing in this folder") || !strings.Contains(r.stderr, "path=media") {
				t.Errorf("sync after the unmount logged no brake for media:\n%s", r.stderr)
			}
			treetest.AssertUnchanged(t, before, dst)
			remount()
			syncOK(t, src, dst, flags...)
			treetest.AssertTreesEqual(t, src, dst)
		}},
		{"daemon start", func(t *testing.T, src, dst string, flags []string, unmount, remount func()) {
			syncOK(t, src, dst, flags...)
			before := listDst(t, dst)
			unmount()
			// A mount makes no inotify event; the watcher polls the mount
			// table, so the disk's files come back without a rescan (an
			// hour away).
			d := runPaths(t, src, dst, append([]string{"--delete"}, flags...)...)
			d.waitWatching("src")
			d.waitLog(0, match{text: []string{"deleting nothing in this folder"}})
			treetest.AssertUnchanged(t, before, dst)
			remount()
			d.converge(src, dst)
			d.stopOK(os.Interrupt)
		}},
		{"daemon running", func(t *testing.T, src, dst string, flags []string, unmount, remount func()) {
			d := runPaths(t, src, dst, append([]string{"--delete"}, flags...)...)
			d.converge(src, dst)
			before := listDst(t, dst)
			since := d.mark()
			unmount()
			d.waitLog(since, match{text: []string{"deleting nothing in this folder"}})
			treetest.AssertUnchanged(t, before, dst)
			remount()
			d.converge(src, dst)
			d.stopOK(os.Interrupt)
		}},
	}
	// stray: the mount point holds an excluded file under the disk (left
	// there before the disk was mounted); it must not make the folder
	// look full once the disk is gone.
	for _, stray := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			var flags []string
			if stray {
				name += ", excluded file in the mount point"
				flags = []string{"--exclude", "*.swp"}
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				_, src, dst := dirs(t, map[string]string{"top.txt": "on the root's disk", "docs/a.txt": "a"})
				media := filepath.Join(src, "media")
				mkdir(t, media)
				if stray {
					write(t, filepath.Join(media, ".x.swp"), "stray")
				}
				files := map[string]string{}
				for i := range 20 {
					files[fmt.Sprintf("clip%02d.mp4", i)] = strings.Repeat(fmt.Sprint(i), 100+i)
				}
				files["album/01.flac"] = "music"
				mount := func() {
					mustRunTool(t, "mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", media)
					writeTree(t, media, files)
				}
				mount()
				t.Cleanup(func() {
					if isMountPoint(media) {
						_ = runTool("umount", "-l", media)
					}
				})
				unmount := func() { mustRunTool(t, "umount", media) }
				tt.run(t, src, dst, flags, unmount, mount)
			})
		}
	}
}

// syncOK runs copyd sync --delete [flags] SRC DST and fails unless it exits 0.
func syncOK(t *testing.T, src, dst string, flags ...string) result {
	t.Helper()
	args := append([]string{"sync", "--delete", "--fsync=false"}, flags...)
	r := copyd(t, append(args, src, dst)...)
	if r.code != 0 {
		t.Fatalf("copyd sync exit %d:\n%s", r.code, r.stderr)
	}
	return r
}

// listDst lists dst for treetest.AssertUnchanged, without the root (whose
// times a run may set).
func listDst(t *testing.T, dst string) map[string]treetest.Entry {
	t.Helper()
	before := treetest.List(t, dst)
	delete(before, ".")
	return before
}
