package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/copyd/copyd/config"
	copysync "github.com/copyd/copyd/sync"
)

// TestServerReportsARealDaemon serves a daemon that copies a real folder
// and reads /healthz, /status and /metrics as a monitor would.
func TestServerReportsARealDaemon(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	if err := os.MkdirAll(filepath.Join(src, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "d", "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Workers: 2, Settle: 10 * time.Millisecond, MaxDelay: time.Second, Rescan: time.Hour,
		Pairs: []config.Pair{{Name: "lessons", Source: src, Destination: dst, Fsync: true}}}
	metrics := NewMetrics()
	ready := make(chan struct{})
	d := copysync.NewDaemon(copysync.DaemonOptions{Metrics: metrics, Ready: func() { close(ready) }})
	srv := NewServer("127.0.0.1:0", d, metrics, "test", nil)
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served, ran := make(chan error, 1), make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	go func() { ran <- d.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run() = %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	})
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready after 30 s")
	}
	// Ready comes once the source is watched; wait for the first full pass
	// too, so that the change below is a live one.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if st := d.Status(); len(st.Pairs) == 1 && !st.Pairs[0].LastFullSync.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no full pass after 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A live change, so that the histograms have a sample.
	if err := os.WriteFile(filepath.Join(src, "d", "g"), []byte("more"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var rep Report
	for {
		body, code := get(t, url+"/status")
		if code != http.StatusOK {
			t.Fatalf("/status: %d %s", code, body)
		}
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatalf("/status is not JSON: %v\n%s", err, body)
		}
		// Two files, or more: a change whose events straddle its copy is
		// copied again (the daemon prefers a second copy to a stale one).
		copied, err := os.ReadFile(filepath.Join(dst, "d", "g"))
		if len(rep.Pairs) == 1 && rep.Pairs[0].FilesCopied >= 2 && rep.Pairs[0].Queue == 0 && err == nil && string(copied) == "more" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/status never showed the change copied and an empty queue:\n%s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p := rep.Pairs[0]
	if !rep.Ready || rep.Version != "test" || p.Name != "lessons" || p.State != "watching" || p.Source != src ||
		p.BytesCopied != 4*p.FilesCopied || p.Watches != 2 || p.Errors != 0 || p.LastFullSync == nil || p.LastError != nil {
		t.Errorf("/status = %+v, pair %+v; want ready, version test, lessons watching 2 folders, 4 bytes a file, no error, a full sync", rep, p)
	}
	if body, code := get(t, url+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	body, code := get(t, url+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	if !regexp.MustCompile(`\ncopyd_propagation_seconds_count\{pair="lessons"\} [1-9]`).MatchString(body) {
		t.Error("/metrics has no propagation sample for the live change")
	}
	for _, want := range []string{
		fmt.Sprintf(`copyd_files_copied_total{pair="lessons"} %d`, p.FilesCopied),
		fmt.Sprintf(`copyd_bytes_copied_total{pair="lessons"} %d`, p.BytesCopied),
		`copyd_queue_depth{pair="lessons"} 0`,
		`copyd_watches{pair="lessons"} 2`,
		`copyd_pair_state{pair="lessons",state="watching"} 1`,
		`copyd_ready 1`,
		fmt.Sprintf(`copyd_copy_duration_seconds_count{pair="lessons"} %d`, p.FilesCopied),
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}

// TestHealthzWhileNotRunning: a daemon that has not started (or has
// stopped) is not healthy, and its status lists no pairs.
func TestHealthzWhileNotRunning(t *testing.T) {
	t.Parallel()
	d := copysync.NewDaemon(copysync.DaemonOptions{})
	srv := NewServer("127.0.0.1:0", d, nil, "test", nil)
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	url := "http://" + ln.Addr().String()
	if _, code := get(t, url+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz = %d, want 503", code)
	}
	if body, _ := get(t, url+"/status"); !strings.Contains(body, `"pairs": []`) || !strings.Contains(body, `"ready": false`) {
		t.Errorf("/status = %s, want no pairs and not ready", body)
	}
	if _, err := NewServer(ln.Addr().String(), d, nil, "test", nil).Listen(); err == nil {
		t.Error("Listen on a busy address succeeded")
	}
}
