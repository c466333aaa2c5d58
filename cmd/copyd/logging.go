package main

import (
	"io"
	"log/slog"
)

// newLogger returns the process logger: text (or JSON) on w.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	lv := new(slog.LevelVar)
	setLevel(lv, level)
	return newLevelLogger(w, lv, format)
}

// newLevelLogger returns a logger whose level can change while it runs.
func newLevelLogger(w io.Writer, lv *slog.LevelVar, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// setLevel sets lv from a config's level name (info when it is not one).
func setLevel(lv *slog.LevelVar, level string) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	lv.Set(l)
}
