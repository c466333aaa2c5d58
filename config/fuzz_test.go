package config

import (
	"errors"
	"path/filepath"
	"regexp"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error is a set of
// *Problem values naming the file, and that a returned Config is usable.
// Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		for _, p := range problems(t, err) {
			if p.File != "fuzz.yaml" || p.Msg == "" || p.Err == nil {
				t.Errorf("problem %#v lacks its file, message or sentinel", p)
			}
		}
		if c == nil {
			if err == nil {
				t.Fatal("Parse() = nil, nil")
			}
			return
		}
		if err != nil && !errors.Is(err, ErrSourceMissing) {
			t.Fatalf("Parse() returned a config with error %v", err)
		}
		// No pairs is valid only when the file lists them as empty.
		if len(c.Pairs) == 0 && !regexp.MustCompile(`pairs['"]?\s*:`).MatchString(string(data)) ||
			c.Workers < 1 || c.Log.Level == "" {
			t.Errorf("Parse() config %+v lacks pairs or defaults", c)
		}
		for _, p := range c.Pairs {
			for _, path := range []string{p.Source, p.Destination} {
				if !filepath.IsAbs(path) || filepath.Clean(path) != path {
					t.Errorf("Parse() path %q is not absolute and clean", path)
				}
			}
		}
	})
}
