//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunNotifiesSystemd plays systemd's side of Type=notify: a datagram
// socket named by $NOTIFY_SOCKET must receive READY=1 once copyd watches,
// and STOPPING=1 when it stops.
func TestRunNotifiesSystemd(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(got)
				return
			}
			got <- string(buf[:n])
		}
	}()
	next := func(want string) {
		t.Helper()
		select {
		case msg := <-got:
			if !strings.Contains(msg, want) {
				t.Fatalf("systemd got %q, want %q", msg, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("systemd got nothing, want %q", want)
		}
	}
	_, src, dst := dirs(t, map[string]string{"a.txt": "a"})
	d := startRun(t, []string{"NOTIFY_SOCKET=" + sock}, "--log-format", "json", src, dst)
	next("READY=1")
	d.stopOK(syscall.SIGTERM)
	next("STOPPING=1")
}

// TestJournalLinesHaveNoTime: under journald (stderr is the stream named
// by $JOURNAL_STREAM) text log lines leave the time to the journal.
func TestJournalLinesHaveNoTime(t *testing.T) {
	t.Parallel()
	_, src, dst := dirs(t, map[string]string{"a.txt": "a"})
	for _, journal := range []bool{false, true} {
		f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(copydBin, "sync", "--progress", "never", src, dst)
		cmd.Stderr = f
		if journal {
			fi, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			cmd.Env = append(os.Environ(), fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino))
		}
		if err := cmd.Run(); err != nil {
			t.Fatalf("copyd sync: %v", err)
		}
		f.Close()
		out, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "level=INFO") {
			t.Fatalf("no log lines to check (journal %v):\n%s", journal, out)
		}
		if hasTime := strings.Contains(string(out), "time="); hasTime == journal {
			t.Errorf("journal %v: lines carry time=: %v, want %v:\n%s", journal, hasTime, !journal, out)
		}
	}
}
