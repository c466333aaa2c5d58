package status

import (
	"time"

	copysync "github.com/copyd/copyd/sync"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the histograms the daemon feeds as it copies; it implements
// copysync.Metrics.
type Metrics struct {
	copyDur     *prometheus.HistogramVec
	propagation *prometheus.HistogramVec
}

// NewMetrics returns empty histograms.
func NewMetrics() *Metrics {
	return &Metrics{
		copyDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "copyd_copy_duration_seconds",
			Help:    "Time to copy one file, from opening the source to the copy under its final name.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), // 0.5 ms .. 131 s
		}, []string{"pair"}),
		propagation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "copyd_propagation_seconds",
			Help:    "Time from the first event of a change in the source to its copy being complete in the destination (includes settle).",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.3, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"pair"}),
	}
}

// Copied implements copysync.Metrics.
func (m *Metrics) Copied(pair string, _ int64, d time.Duration) {
	m.copyDur.WithLabelValues(pair).Observe(d.Seconds())
}

// Propagated implements copysync.Metrics.
func (m *Metrics) Propagated(pair string, d time.Duration) {
	m.propagation.WithLabelValues(pair).Observe(d.Seconds())
}

var _ copysync.Metrics = (*Metrics)(nil)

// collector reads the counters and gauges from the daemon at each scrape.
type collector struct {
	src                                              Source
	files, bytes, deleted, moved, errors             *prometheus.Desc
	queue, watches, state, ready, lastFull, upToDate *prometheus.Desc
}

var states = []copysync.State{copysync.StateWaiting, copysync.StateScanning, copysync.StateWatching,
	copysync.StateCopying, copysync.StateDegraded, copysync.StatePaused, copysync.StateStopped}

func newCollector(src Source) *collector {
	pair := []string{"pair"}
	return &collector{
		src:      src,
		files:    prometheus.NewDesc("copyd_files_copied_total", "Files (and symlinks) copied.", pair, nil),
		bytes:    prometheus.NewDesc("copyd_bytes_copied_total", "Bytes copied.", pair, nil),
		upToDate: prometheus.NewDesc("copyd_files_up_to_date_total", "Files found already in step by full passes.", pair, nil),
		deleted:  prometheus.NewDesc("copyd_deleted_total", "Destination entries deleted or archived (delete: true).", pair, nil),
		moved:    prometheus.NewDesc("copyd_moved_total", "Destination entries renamed after a rename in the source.", pair, nil),
		errors:   prometheus.NewDesc("copyd_errors_total", "Failed attempts, by kind (each is retried).", []string{"pair", "kind"}, nil),
		queue:    prometheus.NewDesc("copyd_queue_depth", "Paths waiting to settle or being copied.", pair, nil),
		watches:  prometheus.NewDesc("copyd_watches", "Folders watched.", pair, nil),
		state:    prometheus.NewDesc("copyd_pair_state", "1 for the state the pair is in, 0 for the others.", []string{"pair", "state"}, nil),
		lastFull: prometheus.NewDesc("copyd_last_full_sync_timestamp_seconds", "End of the last full pass (0: none yet).", pair, nil),
		ready:    prometheus.NewDesc("copyd_ready", "1 once every pair is watching or waiting for its source.", nil, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.files, c.bytes, c.upToDate, c.deleted, c.moved, c.errors, c.queue, c.watches, c.state, c.lastFull, c.ready} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Status()
	ready := 0.0
	if st.Ready {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready)
	for _, p := range st.Pairs {
		counter := func(d *prometheus.Desc, v int64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), p.Name)
		}
		counter(c.files, p.FilesCopied)
		counter(c.bytes, p.BytesCopied)
		counter(c.upToDate, p.UpToDate)
		counter(c.deleted, p.Deleted)
		counter(c.moved, p.Moved)
		for kind, n := range p.ErrorsByKind {
			ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(n), p.Name, kind)
		}
		ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(p.Queue), p.Name)
		ch <- prometheus.MustNewConstMetric(c.watches, prometheus.GaugeValue, float64(p.Watches), p.Name)
		for _, s := range states {
			v := 0.0
			if p.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, p.Name, s.String())
		}
		last := 0.0
		if !p.LastFullSync.IsZero() {
			last = float64(p.LastFullSync.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(c.lastFull, prometheus.GaugeValue, last, p.Name)
	}
}
