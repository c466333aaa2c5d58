package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
)

// newLogger returns the process logger: text (or JSON) on w.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	lv := new(slog.LevelVar)
	setLevel(lv, level)
	return newLevelLogger(w, lv, format)
}

// newLevelLogger returns a logger whose level can change while it runs.
// Text lines written to the journal leave out the time: journald stamps
// every line itself, and two timestamps per line only clutter journalctl.
func newLevelLogger(w io.Writer, lv *slog.LevelVar, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lv}
	if format != "json" && toJournal(w) {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
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

// toJournal reports whether w is the stream systemd connected to the
// journal: $JOURNAL_STREAM holds its "device:inode" (systemd.exec(5)).
func toJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	want := os.Getenv("JOURNAL_STREAM")
	if !ok || want == "" {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	dev, ino, ok := fileID(fi)
	return ok && want == fmt.Sprintf("%d:%d", dev, ino)
}
