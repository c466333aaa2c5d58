package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Sentinel errors wrapped by a [Problem]; callers branch on them with
// errors.Is, never on the message text.
var (
	// ErrSyntax: the file is not valid YAML (a tab in the indentation, an
	// unclosed bracket or quote, a key given twice).
	ErrSyntax = errors.New("config: invalid YAML")
	// ErrUnknownKey: a key copyd does not know, usually a typo.
	ErrUnknownKey = errors.New("config: unknown key")
	// ErrBadValue: a value of the wrong type or outside its allowed range,
	// or a required value that is missing.
	ErrBadValue = errors.New("config: invalid value")
	// ErrNoPairs: the configuration has no source/destination pair.
	ErrNoPairs = errors.New("config: no pairs")
	// ErrSourceMissing: a source folder does not exist or cannot be reached.
	ErrSourceMissing = errors.New("config: source missing")
	// ErrSourceNotDir: a source exists but is not a folder.
	ErrSourceNotDir = errors.New("config: source is not a folder")
	// ErrDestInsideSource: a destination is its own source or lies inside it.
	ErrDestInsideSource = errors.New("config: destination inside source")
	// ErrSourceInsideDest: a source lies inside its own destination.
	ErrSourceInsideDest = errors.New("config: source inside destination")
	// ErrDestOverlap: two pairs write to one destination, or one pair's
	// destination lies inside another's.
	ErrDestOverlap = errors.New("config: destinations overlap")
	// ErrDuplicateName: two pairs have the same name.
	ErrDuplicateName = errors.New("config: duplicate pair name")
	// ErrDestUnwritable: a destination (or archive) folder cannot be written,
	// or cannot be created because its nearest existing parent cannot be.
	ErrDestUnwritable = errors.New("config: destination not writable")
	// ErrArchiveOverlap: an archive folder is, or lies inside, a source or
	// a destination.
	ErrArchiveOverlap = errors.New("config: archive overlaps a pair")
)

// Problem is one thing wrong with a configuration. Its Error method reads
// "FILE:LINE: KEY: MSG", leaving out "LINE" when it is unknown (0), the
// "FILE:LINE: " part when File is "" (a configuration from command-line
// paths) and "KEY: " when Key is "" (a problem with the file as a whole).
type Problem struct {
	File string // file name as the user gave it; "" for ForPaths
	Line int    // 1-based line in File; 0 when unknown
	Key  string // dotted key such as "pairs[1].destination"; "" for the whole file
	Msg  string // one sentence that says what is wrong and what to do
	Err  error  // one of the package's sentinel errors, or the I/O error reading File
}

// Error returns the problem as a single line for the user.
func (p *Problem) Error() string {
	var b strings.Builder
	switch {
	case p.File != "":
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	case p.Line > 0:
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Unwrap returns Err, so that errors.Is matches the sentinel.
func (p *Problem) Unwrap() error { return p.Err }

// report collects the problems of one configuration.
type report struct {
	file  string          // as in Problem.File
	lines map[string]int  // key → line where the file gives it
	bad   map[string]bool // keys whose value has the wrong shape ("" for the whole file)
	adhoc bool            // ForPaths: pair keys are the bare field names
	list  []error         // of *Problem
}

func newReport(file string, adhoc bool) *report {
	return &report{file: file, lines: map[string]int{}, bad: map[string]bool{}, adhoc: adhoc}
}

// add records a problem with key, at the line of key or, when the file does
// not give key, of the nearest enclosing key it gives ("pairs[1]" for a
// missing "pairs[1].source"). It records nothing under a key whose value,
// or an enclosing one, already had the wrong shape: a pair that is not a
// mapping has no source either, but saying so again does not help.
func (r *report) add(key string, sentinel error, format string, args ...any) {
	if r.isBad(key) {
		return
	}
	r.addAt(r.line(key), key, sentinel, fmt.Sprintf(format, args...))
}

// misshapen records a problem with key's value as a whole and suppresses
// further problems under key.
func (r *report) misshapen(key string, format string, args ...any) {
	r.add(key, ErrBadValue, format, args...)
	r.bad[key] = true
}

// addAt records a problem at an explicit line.
func (r *report) addAt(line int, key string, sentinel error, msg string) {
	r.list = append(r.list, &Problem{File: r.file, Line: line, Key: key, Msg: msg, Err: sentinel})
}

// line returns the line of key or of the nearest enclosing key the file
// gives, or 0.
func (r *report) line(key string) int {
	for ; key != ""; key = parentKey(key) {
		if l, ok := r.lines[key]; ok {
			return l
		}
	}
	return 0
}

// isBad reports whether key or a key enclosing it has the wrong shape.
func (r *report) isBad(key string) bool {
	for ; key != ""; key = parentKey(key) {
		if r.bad[key] {
			return true
		}
	}
	return r.bad[""]
}

// parentKey returns the key enclosing key: "pairs[1]" for
// "pairs[1].source", "pairs" for "pairs[1]", "" for "pairs".
func parentKey(key string) string {
	if i := strings.LastIndexAny(key, ".["); i >= 0 {
		return key[:i]
	}
	return ""
}

// pairKey names field of pairs[i] the way the user wrote it.
func (r *report) pairKey(i int, field string) string {
	if r.adhoc {
		return field
	}
	return fmt.Sprintf("pairs[%d].%s", i, field)
}

// err returns every problem joined in the order of their lines (those
// without a line last), or nil.
func (r *report) err() error {
	slices.SortStableFunc(r.list, func(a, b error) int {
		la, lb := a.(*Problem).Line, b.(*Problem).Line
		if la == 0 || lb == 0 {
			return cmp.Compare(lb, la) // zero last
		}
		return cmp.Compare(la, lb)
	})
	return errors.Join(r.list...)
}
