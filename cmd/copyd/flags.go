package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/copyd/copyd/config"
)

// commonFlags are the flags of the commands that run pairs (DESIGN.md).
type commonFlags struct {
	config    string
	workers   int
	dryRun    bool
	delete    bool
	excludes  stringList
	checksum  bool
	fsync     bool
	logLevel  string
	logFormat string
	progress  string
	settle    time.Duration
	maxDelay  time.Duration
	rescan    time.Duration
	status    string
	set       map[string]bool // flags given on the command line
}

// runOnly are the flags that only copyd run takes.
var runOnly = []string{"settle", "max-delay", "rescan", "status"}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func newFlagSet(name string, f *commonFlags) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed by usageError, once
	fs.StringVar(&f.config, "c", "", "config file")
	fs.StringVar(&f.config, "config", "", "config file")
	fs.IntVar(&f.workers, "workers", 0, "concurrent copies")
	fs.BoolVar(&f.dryRun, "dry-run", false, "change nothing")
	fs.BoolVar(&f.delete, "delete", false, "mirror deletions")
	fs.Var(&f.excludes, "exclude", "exclude pattern")
	fs.BoolVar(&f.checksum, "checksum", false, "compare contents")
	fs.BoolVar(&f.fsync, "fsync", true, "fsync files")
	fs.StringVar(&f.logLevel, "log-level", "", "log level")
	fs.StringVar(&f.logFormat, "log-format", "", "log format")
	fs.StringVar(&f.progress, "progress", "auto", "progress bar")
	fs.DurationVar(&f.settle, "settle", 0, "quiet time before a changed file is copied")
	fs.DurationVar(&f.maxDelay, "max-delay", 0, "longest wait of a file that keeps changing")
	fs.DurationVar(&f.rescan, "rescan", 0, "period of the full rescan")
	fs.StringVar(&f.status, "status", "", "status endpoint address")
	return fs
}

// parseArgs parses flags that may stand before, between or after the
// positional arguments ("copyd sync SRC DST --dry-run"); everything after
// "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, tail...), nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// parseCommon parses a command line into flags and positional arguments
// and checks the values that do not need the config.
func parseCommon(name string, args []string) (*commonFlags, []string, error) {
	f := &commonFlags{set: map[string]bool{}}
	fs := newFlagSet(name, f)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, nil, err
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if f.set["c"] {
		f.set["config"] = true
	}
	switch {
	case f.set["workers"] && f.workers < 1:
		return nil, nil, fmt.Errorf("--workers must be at least 1, not %d", f.workers)
	case f.logLevel != "" && !slices.Contains([]string{"debug", "info", "warn", "error"}, f.logLevel):
		return nil, nil, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", f.logLevel)
	case f.logFormat != "" && f.logFormat != "text" && f.logFormat != "json":
		return nil, nil, fmt.Errorf("--log-format must be text or json, not %q", f.logFormat)
	case !slices.Contains([]string{"auto", "always", "never"}, f.progress):
		return nil, nil, fmt.Errorf("--progress must be auto, always or never, not %q", f.progress)
	case name != "run" && slices.ContainsFunc(runOnly, func(n string) bool { return f.set[n] }):
		return nil, nil, fmt.Errorf("--settle, --max-delay, --rescan and --status apply to copyd run only")
	case f.set["settle"] && f.settle < 0, f.set["max-delay"] && f.maxDelay < 0:
		return nil, nil, errors.New("--settle and --max-delay cannot be negative")
	case f.set["rescan"] && f.rescan != 0 && f.rescan < time.Second:
		return nil, nil, fmt.Errorf("--rescan must be 0 (off) or at least 1s, not %v", f.rescan)
	case len(pos) != 0 && len(pos) != 2:
		return nil, nil, fmt.Errorf("%s takes a source and a destination folder (SRC DST) or -c FILE, not %d arguments", name, len(pos))
	case len(pos) == 2 && f.set["config"]:
		return nil, nil, errors.New("give either -c FILE or SRC DST, not both")
	}
	return f, pos, nil
}

// loadConfig loads the config named by -c, or built from SRC DST, or the
// default file, and applies the command-line overrides to it. Like
// config.Load it returns the config together with the error when the only
// problems are missing sources.
func (f *commonFlags) loadConfig(pos []string) (*config.Config, error) {
	var (
		cfg *config.Config
		err error
	)
	switch {
	case len(pos) == 2:
		cfg, err = config.ForPaths(pos[0], pos[1])
	case f.config != "":
		cfg, err = config.Load(f.config)
	default:
		cfg, err = config.Load(defaultConfigPath())
	}
	if cfg == nil {
		return nil, err
	}
	f.override(cfg)
	return cfg, err
}

// override applies the command-line flags to cfg.
func (f *commonFlags) override(cfg *config.Config) {
	if f.set["workers"] {
		cfg.Workers = f.workers
	}
	if f.logLevel != "" {
		cfg.Log.Level = f.logLevel
	}
	if f.logFormat != "" {
		cfg.Log.Format = f.logFormat
	}
	for i := range cfg.Pairs {
		p := &cfg.Pairs[i]
		if f.delete {
			p.Delete = true
		}
		if f.checksum {
			p.Checksum = true
		}
		if f.set["fsync"] {
			p.Fsync = f.fsync
		}
		p.Exclude = append(p.Exclude, f.excludes...)
	}
	if f.set["settle"] {
		cfg.Settle = f.settle
	}
	if f.set["max-delay"] {
		cfg.MaxDelay = f.maxDelay
	}
	if f.set["rescan"] {
		cfg.Rescan = f.rescan
	}
	if f.set["status"] {
		cfg.Status.Listen = f.status
	}
}

func defaultConfigPath() string { return config.DefaultPath }
