package watcher

import (
	"fmt"
	"strings"
	"testing"
)

func TestLogLimit(t *testing.T) {
	t.Parallel()
	var buf logBuf
	logLimit(buf.logger(), 2, 5)
	out := buf.String()
	want := []string{"level=ERROR", "folders=7", "watched=2"}
	if setting, cur, ok := watchLimit(); ok {
		want = append(want, "setting="+setting, fmt.Sprintf("current=%d", cur), "sysctl "+setting+"=")
	}
	for _, s := range want {
		if !strings.Contains(out, s) {
			t.Errorf("logLimit() logged %q, want it to contain %q", out, s)
		}
	}
}

func TestLimitFix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		setting string
		want    []string
	}{
		{"fs.inotify.max_user_watches", []string{"sysctl fs.inotify.max_user_watches=100", "/etc/sysctl.d/"}},
		{"user.max_inotify_watches", []string{"user namespace", "sysctl user.max_inotify_watches=100"}},
	}
	for _, tt := range tests {
		got := limitFix(tt.setting, 100)
		for _, s := range tt.want {
			if !strings.Contains(got, s) {
				t.Errorf("limitFix(%q, 100) = %q, want it to contain %q", tt.setting, got, s)
			}
		}
	}
}
