package testserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// need finds program (on PATH or at one of the given paths) or ends the
// test: fails under CI, skips elsewhere with how to install it.
func need(t testing.TB, program, install string, paths ...string) string {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed: %s", program, install)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (.ci/run installs it)")
	}
	t.Skip(msg)
	return ""
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits until addr accepts connections, or fails the test
// after timeout with the server's output.
func waitListening(t testing.TB, addr string, timeout time.Duration, exited <-chan struct{}, output func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("the server exited before listening on %s:\n%s", addr, output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %v:\n%s", addr, timeout, output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
