//go:build linux

package s3

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/copyd/copyd/dest"
	"github.com/copyd/copyd/dest/desttest"
	"github.com/copyd/copyd/internal/testserver"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func rawClient(t *testing.T, srv *testserver.MinIO) *minio.Client {
	t.Helper()
	c, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func makeBucket(t *testing.T, srv *testserver.MinIO, name string) {
	t.Helper()
	if err := rawClient(t, srv).MakeBucket(t.Context(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
}

func config(srv *testserver.MinIO, bucket, prefix string) Config {
	return Config{Bucket: bucket, Prefix: prefix, Endpoint: "http://" + srv.Endpoint, PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
}

func TestConformance(t *testing.T) {
	srv := testserver.StartMinIO(t)
	makeBucket(t, srv, "backup")
	var n atomic.Int64
	desttest.Run(t, func(t *testing.T) dest.Destination {
		d, err := New(t.Context(), config(srv, "backup", fmt.Sprintf("home/test-%d", n.Add(1))))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}, desttest.Options{})
}

// TestRefusals: a missing bucket, wrong credentials, an unreachable
// endpoint and a malformed one are each refused with a sentence; wrong
// credentials never appear in the error.
func TestRefusals(t *testing.T) {
	srv := testserver.StartMinIO(t)
	makeBucket(t, srv, "backup")
	tests := []struct {
		name      string
		cfg       func(c *Config)
		wants     []string
		transient bool
	}{
		{"missing bucket", func(c *Config) { c.Bucket = "nope" }, []string{`the bucket "nope" does not exist`, "create it first"}, false},
		{"wrong secret", func(c *Config) { c.SecretKey = "not-the-secret-xyz" }, []string{"credentials were refused"}, false},
		{"unknown access key", func(c *Config) { c.AccessKey = "nobody" }, []string{"credentials were refused"}, false},
		{"nothing listens", func(c *Config) { c.Endpoint = "http://127.0.0.1:1" }, []string{"connection refused"}, true},
		{"bad endpoint", func(c *Config) { c.Endpoint = "ftp://host" }, []string{"want host[:port] or http(s)://"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(srv, "backup", "x")
			tt.cfg(&cfg)
			_, err := New(t.Context(), cfg)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New error = %v\nwant it to say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), cfg.SecretKey) {
				t.Errorf("the error shows the secret: %v", err)
			}
			if dest.IsTransient(err) != tt.transient {
				t.Errorf("IsTransient(%v) = %v, want %v", err, dest.IsTransient(err), tt.transient)
			}
		})
	}
}

// TestServerKilledMidUpload kills MinIO during a multipart upload over an
// old version: the key keeps the old version, the error is transient, and
// once the server is back the next New removes the incomplete upload and
// the same upload works.
func TestServerKilledMidUpload(t *testing.T) {
	srv := testserver.StartMinIO(t)
	makeBucket(t, srv, "backup")
	d, err := New(t.Context(), config(srv, "backup", "p"))
	if err != nil {
		t.Fatal(err)
	}
	old := []byte("the old version")
	if err := d.Put(t.Context(), "video", bytes.NewReader(old), int64(len(old)), dest.NoOwner(0o644, time.Now())); err != nil {
		t.Fatal(err)
	}
	const size = 300 << 20 // multipart
	pr, pw := io.Pipe()
	go func() {
		buf := make([]byte, 1<<20)
		for sent := 0; sent < size; sent += len(buf) {
			if sent == 100<<20 { // the first part is on the server
				srv.Kill()
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
	srv.Start()
	c := rawClient(t, srv)
	waitFor(t, func() error { _, err := c.BucketExists(t.Context(), "backup"); return err })
	obj, err := c.GetObject(t.Context(), "backup", "p/video", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, old) {
		t.Errorf("after the kill p/video holds %d bytes (%v), want the old version", len(got), err)
	}
	d2, err := New(t.Context(), config(srv, "backup", "p"))
	if err != nil {
		t.Fatal(err)
	}
	for up := range c.ListIncompleteUploads(t.Context(), "backup", "p/", true) {
		if up.Err == nil {
			t.Errorf("incomplete upload %s left after New", up.Key)
		}
	}
	data := []byte("the new version")
	if err := d2.Put(t.Context(), "video", bytes.NewReader(data), int64(len(data)), dest.NoOwner(0o644, time.Now())); err != nil {
		t.Fatalf("Put after the server came back: %v", err)
	}
}

// TestFullServer runs MinIO on a 64 MiB tmpfs and fills it: the Put that
// does not fit fails with dest.ErrFull, and the keys keep what they had.
func TestFullServer(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	srv := testserver.StartMinIOIn(t, dir)
	makeBucket(t, srv, "backup")
	d, err := New(t.Context(), config(srv, "backup", ""))
	if err != nil {
		t.Fatal(err)
	}
	// The Put that meets the full disk may fail otherwise (MinIO can end
	// the body early: IncompleteBody); the ones after it must say full.
	var full error
	for i := 0; i < 24 && !errors.Is(full, dest.ErrFull); i++ {
		data := bytes.Repeat([]byte{byte(i)}, 16<<20)
		full = d.Put(t.Context(), fmt.Sprintf("f%d", i), bytes.NewReader(data), int64(len(data)), dest.NoOwner(0o644, time.Now()))
	}
	if !errors.Is(full, dest.ErrFull) {
		t.Fatalf("filling the server: last Put error = %v, want ErrFull", full)
	}
	if _, err := d.Stat(t.Context(), "f0"); err != nil {
		t.Errorf("f0 after the server filled: %v", err)
	}
}

func waitFor(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
