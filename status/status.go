package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	copysync "github.com/copyd/copyd/sync"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Source is what the server reports on: a running daemon.
type Source interface {
	Status() copysync.Status
}

// Report is the JSON document served at /status.
type Report struct {
	Version string       `json:"version"`
	Started time.Time    `json:"started"`
	Ready   bool         `json:"ready"`
	Pairs   []PairReport `json:"pairs"`
}

// PairReport is one pair in a [Report].
type PairReport struct {
	Name         string           `json:"name"`
	Source       string           `json:"source"`
	Destination  string           `json:"destination"`
	State        string           `json:"state"`
	FilesCopied  int64            `json:"files_copied"`
	BytesCopied  int64            `json:"bytes_copied"`
	UpToDate     int64            `json:"up_to_date"`
	Deleted      int64            `json:"deleted"`
	Moved        int64            `json:"moved"`
	Special      int64            `json:"special_skipped"`
	Queue        int              `json:"queue"`
	Watches      int              `json:"watches"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	LastError    *ErrorReport     `json:"last_error"`
	LastFullSync *time.Time       `json:"last_full_sync"`
	Failing      []FailingReport  `json:"failing"` // paths failing now, oldest first (at most 100)
}

// FailingReport is a path that keeps failing: its last error, and since when.
type FailingReport struct {
	Path     string    `json:"path"`
	Op       string    `json:"op"`
	Error    string    `json:"error"`
	Since    time.Time `json:"since"`
	Last     time.Time `json:"last"`
	Attempts int       `json:"attempts"`
}

// ErrorReport is a pair's last failure.
type ErrorReport struct {
	Time  time.Time `json:"time"`
	Op    string    `json:"op"`
	Path  string    `json:"path"`
	Error string    `json:"error"`
}

// NewReport turns a daemon's status into the /status document.
func NewReport(st copysync.Status, version string) Report {
	r := Report{Version: version, Started: st.Started, Ready: st.Ready, Pairs: []PairReport{}}
	for _, p := range st.Pairs {
		pr := PairReport{
			Name: p.Name, Source: p.Source, Destination: p.Destination, State: p.State.String(),
			FilesCopied: p.FilesCopied, BytesCopied: p.BytesCopied, UpToDate: p.UpToDate,
			Deleted: p.Deleted, Moved: p.Moved, Special: p.Special, Queue: p.Queue, Watches: p.Watches,
			Errors: p.Errors, ErrorsByKind: p.ErrorsByKind,
		}
		if e := p.LastError; e != nil {
			pr.LastError = &ErrorReport{Time: e.Time, Op: e.Op, Path: e.Path, Error: e.Err}
		}
		pr.Failing = []FailingReport{}
		for _, f := range p.Failing {
			pr.Failing = append(pr.Failing, FailingReport{Path: f.Path, Op: f.Op, Error: f.Err, Since: f.Since, Last: f.Last, Attempts: f.Attempts})
		}
		if !p.LastFullSync.IsZero() {
			t := p.LastFullSync
			pr.LastFullSync = &t
		}
		r.Pairs = append(r.Pairs, pr)
	}
	return r
}

// Server serves a daemon's status.
type Server struct {
	addr    string
	src     Source
	version string
	metrics *Metrics
	log     *slog.Logger
}

// NewServer returns a server for src on addr ("host:port"). metrics may be
// nil (then /metrics has only the figures read from src).
func NewServer(addr string, src Source, metrics *Metrics, version string, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics()
	}
	return &Server{addr: addr, src: src, version: version, metrics: metrics, log: log}
}

// Listen binds the server's address; Serve then serves on it. Split so
// that a busy port is reported before the daemon starts its work.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("status endpoint on %s: %w", s.addr, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx ends, then shuts down (within 2 s) and
// returns nil; it returns other errors of the HTTP server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(s.src), s.metrics.copyDur, s.metrics.propagation)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !s.src.Status().Ready {
			http.Error(w, "starting or stopping", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(NewReport(s.src.Status(), s.version)); err != nil {
			s.log.Debug("status not sent", "err", err)
		}
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	<-errc
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
