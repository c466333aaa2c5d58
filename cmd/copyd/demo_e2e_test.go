//go:build unix

package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDemo runs the README's first command as a new user would: it must
// show every change arriving, say the trees match, clean up and exit 0.
func TestDemo(t *testing.T) {
	t.Parallel()
	r := copyd(t, "demo")
	if r.code != 0 {
		t.Fatalf("copyd demo: %v", r)
	}
	if n := strings.Count(r.stdout, "arrived after"); n != 6 {
		t.Errorf("%d changes shown arriving, want 6:\n%s", n, r.stdout)
	}
	for _, want := range []string{"python教学视频", "initial copy:", "6 changes, all in the destination", "matches the source"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.stderr != "" {
		t.Errorf("the daemon logged warnings or errors:\n%s", r.stderr)
	}
	m := regexp.MustCompile(`a sample library in (\S+)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("output does not name its temp folder:\n%s", r.stdout)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("temp folder %s left behind (stat: %v)", m[1], err)
	}
	if r := copyd(t, "demo", "extra"); r.code != exitUsage {
		t.Errorf("copyd demo extra: exit %d, want %d", r.code, exitUsage)
	}
}
