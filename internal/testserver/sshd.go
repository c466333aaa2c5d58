//go:build linux

package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SSHD is a running OpenSSH server that serves SFTP on 127.0.0.1.
type SSHD struct {
	Host       string // 127.0.0.1
	Port       int
	User       string // the user the tests run as, which the server logs in
	KeyFile    string // the client's private key (no passphrase)
	KnownHosts string // a known_hosts file with the server's host key
	HostKey    string // the server's public host key line
	Root       string // a fresh folder on the server for the test's files

	t      testing.TB
	bin    string
	config string
	proc   process
}

// StartSSHD starts sshd on a free port of 127.0.0.1 with a generated host
// key that only the client key it generates may log in with.
func StartSSHD(t testing.TB) *SSHD {
	t.Helper()
	bin := need(t, "sshd", "apt-get install openssh-server", "/usr/sbin/sshd")
	keygen := need(t, "ssh-keygen", "apt-get install openssh-client")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %q: %v\n%s", name, args, err, out)
		}
	}
	hostKey, clientKey := filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "client_ed25519")
	run(keygen, "-q", "-t", "ed25519", "-N", "", "-f", hostKey)
	run(keygen, "-q", "-t", "ed25519", "-N", "", "-f", clientKey)
	pub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	s := &SSHD{
		Host: "127.0.0.1", Port: freePort(t), User: u.Username, KeyFile: clientKey,
		KnownHosts: filepath.Join(dir, "known_hosts"), Root: filepath.Join(dir, "files"),
		t: t, bin: bin, config: filepath.Join(dir, "sshd_config"),
	}
	fields := strings.Fields(string(hostPub))
	s.HostKey = fields[0] + " " + fields[1]
	if err := os.WriteFile(s.KnownHosts, fmt.Appendf(nil, "[%s]:%d %s\n", s.Host, s.Port, s.HostKey), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	sftpServer := "internal-sftp"
	conf := strings.Join([]string{
		"ListenAddress " + s.Host,
		"Port " + strconv.Itoa(s.Port),
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + authorized,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"UsePAM no",
		"PermitRootLogin prohibit-password",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"StrictModes no",
		"Subsystem sftp " + sftpServer,
		"LogLevel ERROR",
		"MaxStartups 100",
		"MaxSessions 100",
	}, "\n") + "\n"
	if err := os.WriteFile(s.config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd wants its privilege separation folder.
	_ = os.MkdirAll("/run/sshd", 0o755)
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port.
func (s *SSHD) Addr() string { return fmt.Sprintf("%s:%d", s.Host, s.Port) }

// URL is the sftp:// URL of path (relative to Root) on the server.
func (s *SSHD) URL(path string) string {
	return fmt.Sprintf("sftp://%s@%s:%d%s", s.User, s.Host, s.Port, filepath.Join(s.Root, path))
}

// Start starts the server (again, after Stop or Kill) and waits until it
// listens.
func (s *SSHD) Start() {
	s.t.Helper()
	s.proc.start(s.t, exec.Command(s.bin, "-D", "-e", "-f", s.config), s.Addr(), 10*time.Second)
}

// Kill kills the server and every session it serves, as a crash or a
// power cut of the server would: connections drop without a goodbye.
func (s *SSHD) Kill() { s.proc.kill() }

// Stop stops the server.
func (s *SSHD) Stop() { s.Kill() }
