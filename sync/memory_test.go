package sync

import (
	"testing"
	"time"
)

func TestSettleWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		ctime int64
		want  time.Duration
	}{
		{"nanosecond timestamp", 1_765_000_000_123_456_789, racyWindow},
		{"whole second (ext4 with 128-byte inodes, HFS+, NFS)", 1_765_000_000_000_000_000, coarseWindow},
		{"even second (FAT)", 1_765_000_002_000_000_000, coarseWindow},
	}
	for _, tt := range tests {
		if got := SettleWindow(tt.ctime); got != tt.want {
			t.Errorf("%s: SettleWindow(%d) = %v, want %v", tt.name, tt.ctime, got, tt.want)
		}
	}
	if coarseWindow <= 2*time.Second {
		t.Errorf("coarseWindow = %v: a FAT tick is 2 s", coarseWindow)
	}
}
