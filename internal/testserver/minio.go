//go:build linux

package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// MinIOBin is where .ci/run leaves the MinIO server it builds (go install
// github.com/minio/minio, ~3 minutes, once per machine).
const MinIOBin = "/var/tmp/copyd-tools/minio"

// MinIO is a running MinIO server on 127.0.0.1.
type MinIO struct {
	Endpoint  string // host:port, plain HTTP
	AccessKey string
	SecretKey string
	Dir       string // where it keeps its data

	t    testing.TB
	bin  string
	proc process
}

// StartMinIO starts a MinIO server on a free port of 127.0.0.1, keeping
// its data in a new temp folder.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	return StartMinIOIn(t, t.TempDir())
}

// StartMinIOIn starts a MinIO server that keeps its data in dir (a small
// tmpfs makes a full server).
func StartMinIOIn(t testing.TB, dir string) *MinIO {
	t.Helper()
	bin := os.Getenv("COPYD_MINIO")
	if bin == "" {
		bin = need(t, "minio", "go install github.com/minio/minio@latest and copy it to "+MinIOBin+" (or set COPYD_MINIO)", MinIOBin)
	}
	m := &MinIO{
		Endpoint:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		AccessKey: "copyd-test",
		SecretKey: "copyd-test-secret",
		Dir:       dir,
		t:         t,
		bin:       bin,
	}
	m.Start()
	t.Cleanup(m.Kill)
	return m
}

// Start starts the server (again, after Kill) and waits until it serves.
func (m *MinIO) Start() {
	m.t.Helper()
	cmd := exec.Command(m.bin, "server", m.Dir, "--address", m.Endpoint, "--console-address", fmt.Sprintf("127.0.0.1:%d", freePort(m.t)), "--quiet")
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.AccessKey, "MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	m.proc.start(m.t, cmd, m.Endpoint, 30*time.Second)
}

// Kill kills the server at once, as a crash would.
func (m *MinIO) Kill() { m.proc.kill() }
