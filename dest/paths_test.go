package dest

import (
	"io/fs"
	"testing"
)

func TestModeBits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode fs.FileMode
		bits uint32
	}{
		{0o644, 0o644},
		{0o755 | fs.ModeSetuid, 0o4755},
		{0o2775&0o777 | fs.ModeSetgid, 0o2775},
		{0o1777&0o777 | fs.ModeSticky, 0o1777},
		{0o7000&0 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky, 0o7000},
	}
	for _, tt := range tests {
		if got := ModeBits(tt.mode); got != tt.bits {
			t.Errorf("ModeBits(%v) = %o, want %o", tt.mode, got, tt.bits)
		}
		if got := FileMode(tt.bits); got != tt.mode {
			t.Errorf("FileMode(%o) = %v, want %v", tt.bits, got, tt.mode)
		}
	}
	if got := FileMode(0o100644); got != 0o644 { // a raw st_mode's type bits are ignored
		t.Errorf("FileMode(0o100644) = %v, want -rw-r--r--", got)
	}
	if ModeBits(fs.ModeDir|0o755) != 0o755 {
		t.Error("ModeBits keeps the type bit")
	}
}

func TestCheckRel(t *testing.T) {
	t.Parallel()
	for rel, ok := range map[string]bool{"": true, "a": true, "a/b": true, "..x": true,
		"/a": false, "a/": false, "a//b": false, "./a": false, "..": false, "../a": false, "a/../b": false} {
		if err := CheckRel(rel); (err == nil) != ok {
			t.Errorf("CheckRel(%q) = %v, want ok %v", rel, err, ok)
		}
	}
}
