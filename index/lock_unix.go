//go:build unix

package index

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFile is the lock that makes one copyd at a time use a database, and
// the lock on the destination folder itself that makes one copyd at a time
// use a destination, whatever state folder or path (a symlink) names it.
type lockFile struct{ f, dir *os.File }

// takeLock locks path (made if missing) and writes this process's pid and
// command line into it, for the error another copyd gets; then it locks
// the folder dest (flock on the folder: nothing is written there).
func takeLock(path, dest string) (*lockFile, error) {
	l, err := takeFileLock(path)
	if err != nil || dest == "" {
		return l, err
	}
	d, err := os.Open(dest)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil // no folder yet: nothing of it to guard
	}
	if err != nil {
		l.release()
		return nil, fmt.Errorf("open destination to lock it: %w", err)
	}
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		d.Close()
		l.release()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Holder: folderLockHolder(dest)}
		}
		return nil, fmt.Errorf("lock destination: %w", err)
	}
	l.dir = d
	return l, nil
}

// folderLockHolder names the process holding an flock on folder dir, from
// /proc/locks (Linux); "" when that cannot be told.
func folderLockHolder(dir string) string {
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil {
		return ""
	}
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return ""
	}
	// "1: FLOCK  ADVISORY  WRITE 4711 fe:01:1234 0 EOF"
	want := fmt.Sprintf(":%d", st.Ino)
	for _, line := range strings.Split(string(locks), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[1] != "FLOCK" || !strings.HasSuffix(f[5], want) {
			continue
		}
		dev := strings.Split(f[5], ":")
		if len(dev) != 3 {
			continue
		}
		major, err1 := strconv.ParseUint(dev[0], 16, 32)
		minor, err2 := strconv.ParseUint(dev[1], 16, 32)
		if err1 != nil || err2 != nil || unix.Mkdev(uint32(major), uint32(minor)) != uint64(st.Dev) {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + f[4] + "/cmdline")
		return "pid " + f[4] + ": " + strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
	}
	return ""
}

func takeFileLock(path string) (*lockFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open index lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Holder: strings.TrimSpace(string(holder))}
		}
		return nil, fmt.Errorf("lock index: %w", err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+": "+strings.Join(os.Args, " ")+"\n"), 0)
	return &lockFile{f: f}, nil
}

func (l *lockFile) release() {
	if l == nil || l.f == nil {
		return
	}
	if l.dir != nil {
		l.dir.Close() // drops its flock
		l.dir = nil
	}
	_ = l.f.Truncate(0)
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// LockName takes, for this process, the machine-wide lock on name (a
// remote destination: no folder here to lock): a file in the system's
// temp folder, shared by every user and state folder. A name held by
// another copyd is refused with a [LockedError] naming it.
func LockName(name string) (release func(), err error) {
	dir := filepath.Join(os.TempDir(), "copyd-locks")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("make lock folder: %w", err)
	}
	_ = os.Chmod(dir, 0o1777) // every user's copyd locks here; each its own files
	sum := sha256.Sum256([]byte(name))
	l, err := takeFileLock(filepath.Join(dir, hex.EncodeToString(sum[:12])+".lock"))
	if err != nil {
		return nil, err
	}
	return l.release, nil
}
