package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// validate reports every problem in c, a config with paths made absolute
// and defaults applied. It resolves the pairs' sources (see checkPairs).
func validate(c *Config, set map[string]bool, r *report) {
	checkSettings(c, r)
	checkPairs(c, set["pairs"], r)
}

func checkSettings(c *Config, r *report) {
	if c.Workers < 1 {
		r.add("workers", ErrBadValue, "%d is too few; use 1 or more", c.Workers)
	}
	if c.Settle < 0 {
		r.add("settle", ErrBadValue, "%s is negative; use 0 or more", fmtDuration(c.Settle))
	}
	switch _, given := r.lines["max_delay"]; {
	case c.MaxDelay <= 0:
		r.add("max_delay", ErrBadValue, "%s is too short; use a duration above 0, such as 10s", fmtDuration(c.MaxDelay))
	case c.MaxDelay < c.Settle && given:
		r.add("max_delay", ErrBadValue, "%s is shorter than settle (%s); make it at least as long as settle",
			fmtDuration(c.MaxDelay), fmtDuration(c.Settle))
	case c.MaxDelay < c.Settle:
		r.add("settle", ErrBadValue, "%s is longer than max_delay (%s by default); shorten settle or set a longer max_delay",
			fmtDuration(c.Settle), fmtDuration(c.MaxDelay))
	}
	if c.Rescan < 0 || (c.Rescan > 0 && c.Rescan < time.Second) {
		r.add("rescan", ErrBadValue, "%s is too short; use 1s or more, or 0 to turn periodic rescans off", fmtDuration(c.Rescan))
	}
	switch {
	case c.StateDir == "":
		r.add("state_dir", ErrBadValue, "no folder given; set it to a folder for copyd's indexes, or remove the key for the default")
	case isTilde(c.StateDir):
		r.add("state_dir", ErrBadValue, "%s starts with ~, which copyd does not expand; write the full path", c.StateDir)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		r.add("log.level", ErrBadValue, "%q is not a log level; use debug, info, warn or error", c.Log.Level)
	}
	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		r.add("log.format", ErrBadValue, "%q is not a log format; use text or json", c.Log.Format)
	}
	if msg := listenProblem(c.Status); msg != "" {
		r.add("status.listen", ErrBadValue, "%s", msg)
	}
}

// CheckListen checks a status endpoint address given on the command line
// (--status) as the config checks status.listen.
func CheckListen(s Status) error {
	if msg := listenProblem(s); msg != "" {
		return fmt.Errorf("--status: %s", msg)
	}
	return nil
}

// listenProblem says what is wrong with s.Listen, "" if nothing.
func listenProblem(s Status) string {
	switch {
	case s.Listen == "":
	case !validListen(s.Listen):
		return fmt.Sprintf(`%q is not a host:port address; write one such as 127.0.0.1:9471, or "" to turn the status endpoint off`, s.Listen)
	case !s.AllowRemote && !loopback(s.Listen):
		return fmt.Sprintf(`%q is reachable from other machines, and the endpoint has no password and shows paths and errors; use 127.0.0.1 or ::1, or set status: allow_remote: true if a firewall guards it`, s.Listen)
	}
	return ""
}

// loopback reports whether a valid host:port listens on loopback only.
func loopback(s string) bool {
	host, _, _ := net.SplitHostPort(s)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validListen accepts host:port with a numeric port from 1 to 65535 and an
// empty host (every interface), an IP address or a host name.
func validListen(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return false
	}
	if host == "" || net.ParseIP(host) != nil {
		return true
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, ch := range label {
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-') {
				return false
			}
		}
	}
	return true
}

// fmtDuration writes d the way a user writes it: "1h", "90s", "250ms",
// not time.Duration's "1h0m0s".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
