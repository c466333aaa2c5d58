package config

import (
	"path/filepath"
	"testing"
)

func TestHasPathPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base, p string
		want    bool
	}{
		{"/data/a", "/data/a", true},
		{"/data/a", "/data/a/", true},
		{"/data/a/", "/data/a", true},
		{"/data/a", "/data/a/b", true},
		{"/data/a/", "/data/a/b/c", true},
		{"/data/a", "/data/ab", false},
		{"/data/ab", "/data/a", false},
		{"/data/a", "/data", false},
		{"/data/a/b", "/data/a", false},
		{"/data/a", "/data/a/../b", false},
		{"/data/a", "/data/b/../a/c", true},
		{"/data//a", "/data/a/b", true},
		{"/", "/", true},
		{"/", "/data", true},
		{"/data", "/", false},
		{"/foo", "/foobar", false},
		{"foo", "foo/bar", true},
		{"foo", "foobar", false},
		{"foo", "/foo/bar", false},
		{"/foo", "foo/bar", false},
		{".", "foo", true},
		{".", ".", true},
		{".", "..", false},
		{".", "../foo", false},
		{"..", "foo", true},
		{"..", "../foo", true},
		{"..", "../..", false},
		{"../a", "../a/b", true},
		{"../a", "a/b", false},
		{"/data/教学视频", "/data/教学视频/第一课.mp4", true},
		{"/data/教学", "/data/教学视频", false},
	}
	for _, tt := range tests {
		base, p := filepath.FromSlash(tt.base), filepath.FromSlash(tt.p)
		if got := HasPathPrefix(base, p); got != tt.want {
			t.Errorf("HasPathPrefix(%q, %q) = %v, want %v", base, p, got, tt.want)
		}
	}
}
