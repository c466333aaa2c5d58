//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestRunUnreadableFileIsRetried runs the daemon as an unprivileged user
// (root reads anything) on a source with a file it may not read: the file
// fails alone with a warning, other changes keep arriving, and once the
// file is made readable it arrives too ("recovered").
func TestRunUnreadableFileIsRetried(t *testing.T) {
	t.Parallel()
	cred := nobody(t)
	base := worldDir(t)
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	writeTree(t, src, map[string]string{"ok.txt": "fine", "secret.txt": "hidden"})
	mkWorldWritable(t, base)
	secret := filepath.Join(src, "secret.txt")
	chmod(t, secret, 0o000)
	via := []string{"setpriv", "--reuid=" + itoa(cred.Uid), "--regid=" + itoa(cred.Gid), "--clear-groups"}
	d := startRunVia(t, via, nil, "--log-format", "json", "--settle", "50ms", src, dst)
	d.waitWatching("src")
	d.waitLog(0, match{level: "WARN", text: []string{"secret.txt"}})
	// One bad file stops nothing else.
	write(t, filepath.Join(src, "later.txt"), "later")
	d.waitFor(converged, func() error {
		_, err := os.Stat(filepath.Join(dst, "later.txt"))
		return err
	})
	assertAbsent(t, filepath.Join(dst, "secret.txt"))
	// Fixed by hand: it arrives without a restart.
	chmod(t, secret, 0o644)
	d.waitLog(0, match{msg: "recovered", attrs: map[string]string{"path": "secret.txt"}})
	d.finish(src, dst)
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
