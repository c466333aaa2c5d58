//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestRunUnreadableIsRetried runs the daemon as an unprivileged user
// (root reads anything) on a source with a file or a folder it may not
// read: that path fails alone with a warning, other changes keep
// arriving, and once it is made readable it arrives too ("recovered")
// without a restart; a folder is watched from then on.
func TestRunUnreadableIsRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		unreadable string // made mode 000
		arrives    string // what must arrive once it is readable again
		mode       os.FileMode
	}{
		{"file", "secret.txt", "secret.txt", 0o644},
		{"folder", "lessons", "lessons/01.txt", 0o755},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cred := nobody(t)
			base := worldDir(t)
			src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
			writeTree(t, src, map[string]string{"ok.txt": "fine", "secret.txt": "hidden", "lessons/01.txt": "one"})
			mkWorldWritable(t, base)
			chmod(t, filepath.Join(src, tt.unreadable), 0o000)
			via := []string{"setpriv", "--reuid=" + itoa(cred.Uid), "--regid=" + itoa(cred.Gid), "--clear-groups"}
			d := startRunVia(t, via, nil, "--log-format", "json", "--settle", "50ms", src, dst)
			d.waitWatching("src")
			d.waitLog(0, match{level: "WARN", text: []string{tt.unreadable}})
			// One bad path stops nothing else.
			write(t, filepath.Join(src, "later.txt"), "later")
			d.waitFor(converged, func() error {
				_, err := os.Stat(filepath.Join(dst, "later.txt"))
				return err
			})
			assertAbsent(t, filepath.Join(dst, tt.arrives))
			// Fixed by hand: it arrives without a restart.
			chmod(t, filepath.Join(src, tt.unreadable), tt.mode)
			d.waitLog(0, match{msg: "recovered", attrs: map[string]string{"path": tt.unreadable}})
			// And from now on it is watched like the rest.
			write(t, filepath.Join(src, "lessons", "02.txt"), "two")
			d.finish(src, dst)
		})
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
