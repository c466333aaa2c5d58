// Package status serves a running copyd daemon's health and figures over
// HTTP: /healthz (200 once every pair is watching or waiting, 503 while the
// daemon starts or stops), /status (JSON: per pair its state, counters,
// queue, watches, errors and the last one, last full sync) and /metrics
// (Prometheus text format, copyd_* names). It also decodes /status for
// `copyd status`. [Server.Run] owns the HTTP server's goroutines and
// returns once they ended.
package status
