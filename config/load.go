package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Load reads the YAML file at path and returns its configuration, as
// [Parse] does. A file that is missing or cannot be read is one *Problem
// that wraps the *fs.PathError (errors.Is(err, fs.ErrNotExist) holds for a
// missing file).
func Load(path string) (*Config, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, errors.Join(&Problem{File: path, Err: ErrBadValue,
			Msg: "this is a folder; give the path of the YAML configuration file"})
	}
	data, err := os.ReadFile(path)
	if err != nil {
		msg := fmt.Sprintf("the file cannot be read (%s); check the path and that copyd may read it", reason(err))
		if errors.Is(err, os.ErrNotExist) {
			msg = "the file does not exist; check the path, or create it from config.example.yaml"
		}
		return nil, errors.Join(&Problem{File: path, Msg: msg, Err: err})
	}
	return Parse(path, data)
}

// Parse decodes and validates the YAML configuration data. file names the
// data in messages, as the user gave it; made absolute, it becomes
// Config.File, and relative paths in the data resolve against its folder.
// Parse looks at the file system (sources must exist, destinations must be
// writable) but changes nothing.
//
// The error joins (errors.Join) one *Problem per problem found, all at
// once, each wrapping a sentinel such as [ErrUnknownKey] or
// [ErrSourceMissing]. A YAML syntax error is reported alone, since nothing
// after it can be read. When every problem is a missing source
// ([ErrSourceMissing]), the *Config is returned along with the error, with
// those sources absolute and clean but not resolved and every other check
// passed, so that a daemon can start and wait for them; otherwise the
// *Config is nil when the error is not.
func Parse(file string, data []byte) (*Config, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, errors.Join(&Problem{File: file, Err: err,
			Msg: fmt.Sprintf("the current folder cannot be found (%s); give the configuration file's absolute path", err)})
	}
	root, p := parseYAML(file, data)
	if p != nil {
		return nil, errors.Join(p)
	}
	if root == nil {
		return nil, errors.Join(&Problem{File: file, Err: ErrNoPairs,
			Msg: "the file is empty; add at least one pair with a source and a destination (see config.example.yaml)"})
	}
	r := newReport(file, false)
	d := &decoder{r: r, set: map[string]bool{}}
	c := d.config(root)
	c.File = abs
	return finish(c, d.set, filepath.Dir(abs), r)
}

// ForPaths returns the configuration for `copyd run SRC DST` and `copyd
// sync SRC DST`: one pair from src to dst, relative paths resolved against
// the current folder, every other setting at its default except that the
// status endpoint is off (Status.Listen is ""), so that two ad-hoc daemons
// never clash. The checks and the error are those of [Parse]; its problems
// have no file or line, and name the paths by the keys "source" and
// "destination".
func ForPaths(src, dst string) (*Config, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, errors.Join(&Problem{Err: err,
			Msg: fmt.Sprintf("the current folder cannot be found (%s); give absolute paths", err)})
	}
	c := &Config{Pairs: []Pair{{Source: src, Destination: dst}}}
	r := newReport("", true)
	return finish(c, map[string]bool{"status.listen": true}, wd, r)
}

// finish makes c's paths absolute against base, applies the defaults for
// the keys not in set, validates, and returns c and the problems as Parse
// documents.
func finish(c *Config, set map[string]bool, base string, r *report) (*Config, error) {
	absPaths(c, base)
	applyDefaults(c, set)
	validate(c, set, r)
	for _, err := range r.list {
		if !errors.Is(err, ErrSourceMissing) {
			return nil, r.err()
		}
	}
	return c, r.err()
}
