//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/config"
	"github.com/copyd/copyd/dest"
	"github.com/copyd/copyd/internal/testserver"
	"github.com/copyd/copyd/remote"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// remoteServer is a real server for one remote destination, with what a
// user writes in the config to reach it.
type remoteServer struct {
	name  string
	yaml  string      // the pair's destination and its block
	pair  config.Pair // the same, for reading back
	kill  func()
	start func()
}

func remoteServers(t *testing.T) []func(t *testing.T) remoteServer {
	return []func(t *testing.T) remoteServer{
		func(t *testing.T) remoteServer {
			srv := testserver.StartMinIO(t)
			cl, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.MakeBucket(t.Context(), "backup", minio.MakeBucketOptions{}); err != nil {
				t.Fatal(err)
			}
			lastMinIO = cl
			t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
			p := config.Pair{Destination: "s3://backup/home", S3: config.S3{Endpoint: "http://" + srv.Endpoint, PathStyle: true}}
			return remoteServer{
				name: "s3",
				yaml: fmt.Sprintf("    destination: s3://backup/home\n    s3:\n      endpoint: http://%s\n      path_style: true\n", srv.Endpoint),
				pair: p, kill: srv.Kill, start: srv.Start,
			}
		},
		func(t *testing.T) remoteServer {
			srv := testserver.StartSSHD(t)
			if err := os.Mkdir(filepath.Join(srv.Root, "backup"), 0o755); err != nil {
				t.Fatal(err)
			}
			u := srv.URL("backup")
			p := config.Pair{Destination: u, SFTP: config.SFTP{KeyFile: srv.KeyFile, KnownHosts: srv.KnownHosts}}
			return remoteServer{
				name: "sftp",
				yaml: fmt.Sprintf("    destination: %s\n    sftp:\n      key_file: %s\n      known_hosts: %s\n", u, srv.KeyFile, srv.KnownHosts),
				pair: p, kill: srv.Kill, start: srv.Start,
			}
		},
	}
}

// lastMinIO is a client of the MinIO remoteServers started last.
var lastMinIO *minio.Client

func minioClient(t *testing.T) *minio.Client {
	t.Helper()
	if lastMinIO == nil {
		t.Fatal("no MinIO started")
	}
	return lastMinIO
}

// remoteConfig writes base/NAME.yaml: one pair NAME from src to srv's
// destination, its state in base, with the top-level settings top (e.g.
// "settle: 50ms\n") and pair settings pair (e.g. "    delete: true\n").
func remoteConfig(t *testing.T, base, name, src string, srv remoteServer, top, pair string) string {
	t.Helper()
	cfg := filepath.Join(base, name+".yaml")
	yaml := fmt.Sprintf("state_dir: %s\n%spairs:\n  - name: %s\n    source: %s\n%s%s",
		filepath.Join(base, "state-"+name), top, name, src, pair, srv.yaml)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// remoteTree reads a remote destination back: path → content ("->
// target" for a symlink, "/" for a folder).
func remoteTree(t *testing.T, p config.Pair) (map[string]string, error) {
	d, err := remote.Connect(t.Context(), p)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	out := map[string]string{}
	var walk func(rel string) error
	walk = func(rel string) error {
		es, err := d.List(t.Context(), rel)
		if err != nil {
			return err
		}
		for _, e := range es {
			crel := strings.TrimPrefix(rel+"/"+e.Name, "/")
			switch e.Kind {
			case dest.Dir:
				out[crel] = "/"
				if err := walk(crel); err != nil {
					return err
				}
			case dest.Symlink:
				out[crel] = "-> " + e.Target
			default:
				rc, err := d.Open(t.Context(), crel)
				if err != nil {
					return err
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					return err
				}
				out[crel] = string(b)
			}
		}
		return nil
	}
	return out, walk("")
}

// waitRemote waits until the destination's files and symlinks are want.
func waitRemote(t *testing.T, p config.Pair, timeout time.Duration, want map[string]string) {
	t.Helper()
	waitFor(t, timeout, func() error {
		got, err := remoteTree(t, p)
		if err != nil {
			return err
		}
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("%s: have %q, want %q", k, got[k], v)
			}
		}
		for k, v := range got {
			if _, ok := want[k]; !ok && v != "/" {
				return fmt.Errorf("%s: have %q, want nothing", k, v)
			}
		}
		return nil
	})
}

// TestRemoteSyncCheckAndRun drives the binary as a user would against a
// real MinIO and a real sshd: copyd check, copyd sync, then copyd run
// copying a new file within a second, pausing while the server is down
// and resuming by itself once it is back.
func TestRemoteSyncCheckAndRun(t *testing.T) {
	for _, mk := range remoteServers(t) {
		srv := mk(t)
		t.Run(srv.name, func(t *testing.T) {
			base := t.TempDir()
			src := filepath.Join(base, "home")
			writeTree(t, src, map[string]string{"a.txt": "alpha", "docs/b.md": "bravo", "docs/deep/c": "charlie"})
			if err := os.Symlink("docs/b.md", filepath.Join(src, "link")); err != nil {
				t.Fatal(err)
			}
			cfg := remoteConfig(t, base, "home", src, srv, "settle: 50ms\n", "    delete: true\n")
			p := srv.pair
			p.Source = src

			if r := copyd(t, "check", "-c", cfg); r.code != 0 {
				t.Fatalf("copyd check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			r := copyd(t, "sync", "-c", cfg)
			if r.code != 0 || !strings.Contains(r.stdout, "copied 4 files") {
				t.Fatalf("copyd sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			want := map[string]string{"a.txt": "alpha", "docs/b.md": "bravo", "docs/deep/c": "charlie", "link": "-> docs/b.md"}
			waitRemote(t, p, time.Second, want)
			if r := copyd(t, "sync", "-c", cfg); r.code != 0 || !strings.Contains(r.stdout, "copied 0 files") {
				t.Fatalf("second copyd sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}

			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			d := startRun(t, nil, "-c", cfg, "--log-format", "json", "--log-level", "debug", "--status", addr)
			d.waitWatching("home")
			d.waitLog(0, match{msg: "ready"})
			write(t, filepath.Join(src, "docs/new.txt"), "fresh")
			remove(t, filepath.Join(src, "a.txt"))
			want["docs/new.txt"] = "fresh"
			delete(want, "a.txt")
			waitRemote(t, p, 10*time.Second, want)

			// A folder renamed: moved on the server, its entries follow.
			mark0 := d.mark()
			rename(t, filepath.Join(src, "docs"), filepath.Join(src, "documents"))
			for k, v := range want {
				if strings.HasPrefix(k, "docs/") {
					want["documents/"+strings.TrimPrefix(k, "docs/")] = v
					delete(want, k)
				}
			}
			waitRemote(t, p, 10*time.Second, want)
			d.waitLog(mark0, match{level: "DEBUG", msg: "moved", attrs: map[string]string{"from": "docs", "to": "documents"}})

			// The server goes away: the pair pauses, and resumes by itself.
			srv.kill()
			mark := d.mark()
			write(t, filepath.Join(src, "while-down.txt"), "queued")
			d.waitLog(mark, match{level: "ERROR", attrs: map[string]string{"pair": "home"}})
			waitFor(t, 10*time.Second, func() error {
				r := copyd(t, "status", "--status", addr)
				if !strings.Contains(r.stdout, "home") || !strings.Contains(r.stdout, "paused") {
					return fmt.Errorf("copyd status while the server is down: %s%s", r.stdout, r.stderr)
				}
				return nil
			})
			srv.start()
			want["while-down.txt"] = "queued"
			waitRemote(t, p, 30*time.Second, want)
			waitFor(t, 10*time.Second, func() error {
				r := copyd(t, "status", "--status", addr)
				if !strings.Contains(r.stdout, "home") || !strings.Contains(r.stdout, "watching") {
					return fmt.Errorf("copyd status once the server is back: %s%s", r.stdout, r.stderr)
				}
				return nil
			})
			d.stopOK(syscall.SIGTERM)
		})
	}
}

// TestRemoteCheckRefuses: copyd check connects to each remote and says in
// one sentence what is wrong, with exit 2; no secret is ever printed.
func TestRemoteCheckRefuses(t *testing.T) {
	mio := testserver.StartMinIO(t)
	cl, err := minio.New(mio.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(mio.AccessKey, mio.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.MakeBucket(t.Context(), "backup", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	ssh := testserver.StartSSHD(t)
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeTree(t, src, map[string]string{"a": "a"})
	emptyKnown := filepath.Join(base, "known_hosts")
	if err := os.WriteFile(emptyKnown, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s3block := func(endpoint string) string {
		return fmt.Sprintf("    s3:\n      endpoint: %s\n      path_style: true\n", endpoint)
	}
	cases := []struct {
		name, dest, block, secret string
		want                      string
	}{
		{"wrong secret", "s3://backup/x", s3block("http://" + mio.Endpoint), "not-the-secret", "credentials"},
		{"missing bucket", "s3://nobucket/x", s3block("http://" + mio.Endpoint), mio.SecretKey, "bucket"},
		{"nothing listening", "s3://backup/x", s3block("http://127.0.0.1:1"), mio.SecretKey, "cannot reach 127.0.0.1:1"},
		{"unknown host key", ssh.URL(""), fmt.Sprintf("    sftp:\n      key_file: %s\n      known_hosts: %s\n", ssh.KeyFile, emptyKnown), "", "known_hosts"},
		{"missing folder", ssh.URL("/nope"), fmt.Sprintf("    sftp:\n      key_file: %s\n      known_hosts: %s\n", ssh.KeyFile, ssh.KnownHosts), "", "create it there first"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", mio.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", c.secret)
			cfg := filepath.Join(t.TempDir(), "copyd.yaml")
			yaml := fmt.Sprintf("pairs:\n  - name: p\n    source: %s\n    destination: %s\n%s", src, c.dest, c.block)
			if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			r := copyd(t, "check", "-c", cfg)
			t.Logf("copyd check: %s", r.stderr)
			if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line naming %q", r.code, r.stderr, c.want)
			}
			if c.secret != "" && strings.Contains(r.stderr+r.stdout, c.secret) {
				t.Errorf("the secret appears in the output")
			}
		})
	}
}

// TestRemoteRunWaitsForTheWriter: a file a writer keeps open, paused
// half-way, is not uploaded as it is; it arrives whole once closed.
func TestRemoteRunWaitsForTheWriter(t *testing.T) {
	for _, mk := range remoteServers(t) {
		srv := mk(t)
		t.Run(srv.name, func(t *testing.T) {
			base := t.TempDir()
			src := filepath.Join(base, "src")
			writeTree(t, src, map[string]string{"keep": "k"})
			cfg := remoteConfig(t, base, "w", src, srv, "settle: 50ms\nmax_delay: 30s\n", "")
			p := srv.pair
			p.Source = src
			d := startRun(t, nil, "-c", cfg, "--log-format", "json")
			d.waitWatching("w")
			waitRemote(t, p, 10*time.Second, map[string]string{"keep": "k"})

			f, err := os.Create(filepath.Join(src, "log.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString("first half;"); err != nil {
				t.Fatal(err)
			}
			// A scan of the folder after the write must leave it alone.
			write(t, filepath.Join(src, "other"), "o")
			waitRemote(t, p, 10*time.Second, map[string]string{"keep": "k", "other": "o"})
			time.Sleep(500 * time.Millisecond)
			if got, err := remoteTree(t, p); err != nil || got["log.txt"] != "" {
				t.Fatalf("a file still open for writing was uploaded: %q (%v)", got["log.txt"], err)
			}
			if _, err := f.WriteString("second half"); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			waitRemote(t, p, 10*time.Second, map[string]string{"keep": "k", "other": "o", "log.txt": "first half;second half"})
		})
	}
}

// TestRemoteRunSourceMadeAgain: the source folder removed and made again
// under copyd run is watched anew: a file written in the new folder
// arrives, and the old file's deletion too.
func TestRemoteRunSourceMadeAgain(t *testing.T) {
	srv := remoteServers(t)[1](t) // SFTP; the engine is the same for S3
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeTree(t, src, map[string]string{"a0": "zero"})
	cfg := remoteConfig(t, base, "again", src, srv, "settle: 50ms\n", "    delete: true\n")
	p := srv.pair
	p.Source = src
	d := startRun(t, nil, "-c", cfg, "--log-format", "json")
	d.waitWatching("again")
	waitRemote(t, p, 10*time.Second, map[string]string{"a0": "zero"})
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
	writeTree(t, src, map[string]string{"after": "hello", "sd/y": "y"})
	waitRemote(t, p, 20*time.Second, map[string]string{"after": "hello", "sd/y": "y"})
	write(t, filepath.Join(src, "later"), "later")
	waitRemote(t, p, 10*time.Second, map[string]string{"after": "hello", "sd/y": "y", "later": "later"})
}

// TestRemoteKilledMidUploadLeavesNothing: copyd killed (kill -9) while it
// uploads a big file leaves a temp file on SFTP or multipart parts on S3;
// the next copyd sync removes them (MinIO lists incomplete uploads only by
// exact key, so copyd keeps the key as an intent in its index).
func TestRemoteKilledMidUploadLeavesNothing(t *testing.T) {
	for i, mk := range remoteServers(t) {
		srv := mk(t)
		t.Run(srv.name, func(t *testing.T) {
			base := t.TempDir()
			src := filepath.Join(base, "src")
			writeTree(t, src, map[string]string{"small": "s"})
			big := make([]byte, 200<<20)
			for i := range big {
				big[i] = byte(i * 7)
			}
			if err := os.WriteFile(filepath.Join(src, "big"), big, 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := remoteConfig(t, base, "k", src, srv, "", "")
			p := srv.pair
			p.Source = src
			// leftovers reports what an interrupted upload of big left.
			var leftovers func() int
			if i == 0 {
				cl := minioClient(t)
				leftovers = func() int {
					n := 0
					for up := range cl.ListIncompleteUploads(t.Context(), "backup", "home/big", false) {
						if up.Err == nil {
							n++
						}
					}
					return n
				}
			} else {
				loc, _ := dest.Parse(p.Destination)
				leftovers = func() int {
					m, _ := filepath.Glob(filepath.Join(loc.Path, ".big.copyd-*"))
					return len(m)
				}
			}
			cmd := exec.Command(copydBin, "sync", "-c", cfg)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, func() error {
				if leftovers() == 0 {
					return fmt.Errorf("the upload of big has not started")
				}
				return nil
			})
			cmd.Process.Kill()
			cmd.Wait()
			if n := leftovers(); n == 0 {
				t.Fatalf("the kill left nothing to clean (the upload ended first?)")
			}
			r := copyd(t, "sync", "-c", cfg, "--log-level", "debug")
			if r.code != 0 {
				t.Fatalf("copyd sync after the kill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			t.Logf("the sync after the kill:\n%s", r.stderr)
			if n := leftovers(); n != 0 {
				t.Errorf("after the next sync: %d leftovers of the cut upload", n)
			}
			got, err := remoteTree(t, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(got["big"]) != len(big) || got["big"] != string(big) || got["small"] != "s" {
				t.Errorf("destination after the next sync: big %d bytes (want %d, equal), small %q", len(got["big"]), len(big), got["small"])
			}
		})
	}
}

// TestRemoteSecondCopydRefused: a second copyd (another state_dir) on a
// remote destination that a running copyd serves is refused, naming it;
// it does not delete the first one's files.
func TestRemoteSecondCopydRefused(t *testing.T) {
	srv := remoteServers(t)[1](t) // SFTP; the lock is the same for S3
	base := t.TempDir()
	mk := func(name string, files map[string]string) string {
		src := filepath.Join(base, name)
		writeTree(t, src, files)
		return remoteConfig(t, base, name, src, srv, "settle: 50ms\n", "    delete: true\n")
	}
	first := mk("first", map[string]string{"a": "a", "b": "b"})
	second := mk("second", map[string]string{"only": "o"})
	d := startRun(t, nil, "-c", first, "--log-format", "json")
	d.waitWatching("first")
	p := srv.pair
	waitRemote(t, p, 10*time.Second, map[string]string{"a": "a", "b": "b"})

	r := copyd(t, "sync", "-c", second)
	if r.code == 0 || !strings.Contains(r.stderr, "another copyd is using this destination") {
		t.Errorf("a second copyd sync: exit %d, stderr %q; want refused, naming the first", r.code, r.stderr)
	}
	d2 := startRun(t, nil, "-c", second, "--log-format", "json")
	d2.waitLog(0, match{level: "ERROR", msg: "pair not started"})
	time.Sleep(500 * time.Millisecond)
	waitRemote(t, p, time.Second, map[string]string{"a": "a", "b": "b"})
}

// TestRemoteRunStartWaitsForTheWriter: a file a writer holds open, paused
// half-way, when copyd run starts (its first pass meets it; no event was
// seen) is not uploaded half-written; it arrives whole once closed.
func TestRemoteRunStartWaitsForTheWriter(t *testing.T) {
	srv := remoteServers(t)[0](t) // S3; the engine is the same for SFTP
	base := t.TempDir()
	src := filepath.Join(base, "src")
	writeTree(t, src, map[string]string{"keep": "k"})
	f, err := os.Create(filepath.Join(src, "log.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("first half;"); err != nil {
		t.Fatal(err)
	}
	cfg := remoteConfig(t, base, "w", src, srv, "settle: 50ms\nmax_delay: 30s\n", "")
	p := srv.pair
	p.Source = src
	d := startRun(t, nil, "-c", cfg, "--log-format", "json")
	d.waitWatching("w")
	waitRemote(t, p, 10*time.Second, map[string]string{"keep": "k"})
	time.Sleep(time.Second)
	if got, err := remoteTree(t, p); err != nil || got["log.txt"] != "" {
		t.Fatalf("a file still open for writing was uploaded at start: %q (%v)", got["log.txt"], err)
	}
	if _, err := f.WriteString("second half"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitRemote(t, p, 10*time.Second, map[string]string{"keep": "k", "log.txt": "first half;second half"})
}
