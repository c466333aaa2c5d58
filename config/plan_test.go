package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestWritePlan(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	mkTree(t, root, "videos/", "home/", "backup/home/")
	c, err := Parse(filepath.Join(root, "config.yaml"), []byte(expand(`workers: 6
rescan: 0
state_dir: /var/lib/copyd
status: {listen: "127.0.0.1:9999"}
pairs:
  - name: teaching-videos
    source: $T/videos
    destination: $T/backup/videos
    exclude: ["*.tmp", "~$*"]
  - source: $T/home
    destination: $T/backup/home
    delete: true
    archive: $T/archive/home
    checksum: true
    fsync: false
`, root)))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := c.WritePlan(&b); err != nil {
		t.Fatalf("WritePlan() error = %v", err)
	}
	want := expand(`config:      $T/config.yaml
workers:     6 concurrent copies across all pairs
settle:      250ms after the last change before a file is copied
max_delay:   10s at most before a file that keeps changing is copied
rescan:      off
state_dir:   /var/lib/copyd (what copyd wrote, one index per pair)
log:         level info, format text
status:      http://127.0.0.1:9999 (/healthz, /status, /metrics)

pair "teaching-videos": $T/videos → $T/backup/videos
  destination: will be created in $T/backup
  delete:      no: files removed from the source stay in the destination
  archive:     none: destination files are overwritten or deleted in place
  exclude:     "*.tmp", "~$*"
  checksum:    no: files are compared by size and modification time
  fsync:       yes: each copy is on disk before it counts as done

pair "home": $T/home → $T/backup/home
  destination: exists
  delete:      yes: files removed from the source are removed from the destination
  archive:     $T/archive/home (will be created in $T): replaced and deleted destination files are moved there
  exclude:     none
  checksum:    yes: scans also compare the contents of files of equal size
  fsync:       no: faster, but a power cut can lose recent copies
`, root)
	if got := b.String(); got != want {
		t.Errorf("WritePlan() =\n%s\nwant\n%s", got, want)
	}
}

func TestWritePlanRemote(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	mkTree(t, root, "a/", "b/", "c/", "d/", "known_hosts")
	c, err := Parse(filepath.Join(root, "config.yaml"), []byte(expand(`pairs:
  - source: $T/a
    destination: s3://photos/2026/
    s3: {endpoint: "http://127.0.0.1:9000", region: eu-west-1}
  - source: $T/b
    destination: s3://photos-b
  - source: $T/c
    destination: sftp://ann@nas.local:2222/backup/c
    sftp: {known_hosts: $T/known_hosts}
  - source: $T/d
    destination: sftp://nas.local/backup/d
`, root)))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := c.WritePlan(&b); err != nil {
		t.Fatalf("WritePlan() error = %v", err)
	}
	for _, want := range []string{
		"pair \"a\": $T/a → s3://photos/2026/\n  destination: s3://photos/2026 (S3 at http://127.0.0.1:9000, region eu-west-1)\n",
		"pair \"b\": $T/b → s3://photos-b\n  destination: s3://photos-b (S3 at AWS_ENDPOINT_URL if set, else AWS)\n",
		"pair \"c\": $T/c → sftp://ann@nas.local:2222/backup/c\n  destination: sftp://ann@nas.local:2222/backup/c (SFTP; host key checked against $T/known_hosts)\n",
		"pair \"d\": $T/d → sftp://nas.local/backup/d\n  destination: sftp://nas.local/backup/d (SFTP; host key checked against ~/.ssh/known_hosts)\n",
	} {
		if want = expand(want, root); !strings.Contains(b.String(), want) {
			t.Errorf("WritePlan() =\n%s\nwant it to contain\n%s", b.String(), want)
		}
	}
	if strings.Contains(b.String(), "will be created") {
		t.Errorf("WritePlan() =\n%s\nwant no remote destination said to be created as a folder", b.String())
	}
}

func TestWritePlanForPaths(t *testing.T) {
	root := tempRoot(t)
	mkTree(t, root, "src/")
	t.Chdir(root)
	c, err := ForPaths("src", "dst")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := c.WritePlan(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"config:      none (folders from the command line)\n", "status:      off\n",
		expand("pair \"src\": $T/src → $T/dst\n", root)} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("WritePlan() =\n%s\nwant it to contain %q", b.String(), want)
		}
	}
}

type failWriter struct{}

var errDiskFull = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestWritePlanWriteError(t *testing.T) {
	t.Parallel()
	c := &Config{Pairs: []Pair{{Name: "p", Source: "/nonexistent/a", Destination: "/nonexistent/b"}}}
	if err := c.WritePlan(failWriter{}); !errors.Is(err, errDiskFull) {
		t.Errorf("WritePlan() error = %v, want %v", err, errDiskFull)
	}
}
