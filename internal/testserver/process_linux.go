package testserver

import (
	"bytes"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// process is a server's process: started (again) by start, killed with
// everything it forked by kill, as a crash would.
type process struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs cmd and waits until addr accepts connections (within
// timeout), failing t with the server's output if it does not.
func (p *process) start(t testing.TB, cmd *exec.Cmd, addr string, timeout time.Duration) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	waitListening(t, addr, timeout, done, out.String)
}

// kill kills the process and its descendants and waits for it; it does
// nothing if the process is not running.
func (p *process) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	killTree(p.cmd.Process.Pid)
	<-p.done
	p.cmd = nil
}
