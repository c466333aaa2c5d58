//go:build linux

package sftp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copyd/copyd/dest"
	"github.com/copyd/copyd/dest/desttest"
	"github.com/copyd/copyd/internal/testserver"
)

func TestConformance(t *testing.T) {
	srv := testserver.StartSSHD(t)
	var n atomic.Int64
	desttest.Run(t, func(t *testing.T) dest.Destination {
		dir := filepath.Join(srv.Root, fmt.Sprint(n.Add(1)))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		d, err := Dial(t.Context(), Config{User: srv.User, Host: srv.Host, Port: srv.Port, Path: dir, KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}, desttest.Options{})
}

// TestRefusals: an unknown host key, a changed one and a key the server
// does not take are each refused with a sentence that says what to do;
// nothing is accepted on first use.
func TestRefusals(t *testing.T) {
	srv := testserver.StartSSHD(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty_known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(dir, "changed_known_hosts")
	other := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh1aGa4vHkxr6vNyFZ0F4JblN1ITh1m5eGmS0P2t8xN"
	if err := os.WriteFile(changed, fmt.Appendf(nil, "[%s]:%d %s\n", srv.Host, srv.Port, other), 0o600); err != nil {
		t.Fatal(err)
	}
	stranger := filepath.Join(dir, "stranger")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	tests := []struct {
		name  string
		cfg   func(c *Config)
		wants []string
	}{
		{"unknown host key", func(c *Config) { c.KnownHosts = empty }, []string{"is not in " + empty, "ssh-keyscan -p", "SHA256:"}},
		{"changed host key", func(c *Config) { c.KnownHosts = changed }, []string{"host key of", "changed", "ssh-keygen -f " + changed + " -R", "do not connect"}},
		{"missing known_hosts", func(c *Config) { c.KnownHosts = filepath.Join(dir, "none") }, []string{"cannot read the known hosts file", "ssh-keyscan"}},
		{"key not authorized", func(c *Config) { c.KeyFile = stranger }, []string{"refused every key", "authorized_keys"}},
		{"missing folder", func(c *Config) { c.Path = filepath.Join(srv.Root, "nope") }, []string{"the folder", "nope", "does not exist"}},
		{"file, not a folder", func(c *Config) { c.Path = srv.KnownHosts }, []string{"is not a folder"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{User: srv.User, Host: srv.Host, Port: srv.Port, Path: srv.Root, KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts}
			tt.cfg(&cfg)
			d, err := Dial(t.Context(), cfg)
			if err == nil {
				d.Close()
				t.Fatal("Dial succeeded")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Dial error = %v\nwant it to say %q", err, w)
				}
			}
			if dest.IsTransient(err) {
				t.Errorf("Dial error %v is marked transient: retrying cannot fix it", err)
			}
		})
	}
}

// TestServerKilledMidUpload kills sshd (and its sessions) while a big
// file is being uploaded over an old version: the name keeps the old
// version, no temp file is visible under a final name, the error is
// transient, and once the server is back the same destination reconnects
// and the upload works.
func TestServerKilledMidUpload(t *testing.T) {
	srv := testserver.StartSSHD(t)
	d, err := Dial(t.Context(), Config{User: srv.User, Host: srv.Host, Port: srv.Port, Path: srv.Root, KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	old := []byte("the old version")
	if err := d.Put(t.Context(), "video", bytes.NewReader(old), int64(len(old)), dest.NoOwner(0o644, time.Now())); err != nil {
		t.Fatal(err)
	}
	const size = 512 << 20
	pr, pw := io.Pipe()
	go func() {
		buf := make([]byte, 1<<20)
		for sent := 0; sent < size; sent += len(buf) {
			if sent == 8<<20 {
				srv.Kill() // a part is on the server by now
			}
			if _, err := pw.Write(buf); err != nil {
				return
			}
		}
		pw.Close()
	}()
	err = d.Put(t.Context(), "video", pr, size, dest.NoOwner(0o644, time.Now()))
	pr.CloseWithError(errors.New("upload over"))
	if err == nil {
		t.Fatal("Put succeeded although the server was killed")
	}
	if !dest.IsTransient(err) {
		t.Errorf("Put error = %v, want a transient one", err)
	}
	if got, err := os.ReadFile(filepath.Join(srv.Root, "video")); err != nil || !bytes.Equal(got, old) {
		t.Errorf("after the kill the server's video holds %d bytes (%v), want the old version", len(got), err)
	}
	srv.Start()
	data := []byte("the new version")
	if err := d.Put(t.Context(), "video", bytes.NewReader(data), int64(len(data)), dest.NoOwner(0o644, time.Now())); err != nil {
		t.Fatalf("Put after the server came back: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(srv.Root, "video")); !bytes.Equal(got, data) {
		t.Errorf("video holds %q, want %q", got, data)
	}
}
