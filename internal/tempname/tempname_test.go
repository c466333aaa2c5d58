package tempname

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTempName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		final    string
		wantBase string // the <name> part of the temp name
	}{
		{"short", "report.pdf", "report.pdf"},
		{"chinese", "第01讲 多进程.mp4", "第01讲 多进程.mp4"},
		{"fits exactly", strings.Repeat("a", MaxNameLen-tempOverhead), strings.Repeat("a", MaxNameLen-tempOverhead)},
		{"one byte too long", strings.Repeat("a", MaxNameLen-tempOverhead+1), strings.Repeat("a", MaxNameLen-tempOverhead)},
		{"255 ascii bytes", strings.Repeat("a", 255), strings.Repeat("a", MaxNameLen-tempOverhead)},
		// 85 three-byte runes = 255 bytes; 227 bytes would split the 76th rune.
		{"255 bytes of chinese", strings.Repeat("教", 85), strings.Repeat("教", 75)},
		{"254 bytes of emoji and ascii", "ab" + strings.Repeat("😀", 63), "ab" + strings.Repeat("😀", 56)},
		{"newline", "a\nb", "a\nb"},
		{"invalid utf-8", "\xff\xfe", "\xff\xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := For(tt.final)
			if len(got) > MaxNameLen {
				t.Errorf("For(%d bytes) is %d bytes, want at most %d", len(tt.final), len(got), MaxNameLen)
			}
			if !strings.HasPrefix(got, "."+tt.wantBase+tempInfix) {
				t.Errorf("For() = %q, want prefix %q", got, "."+tt.wantBase+tempInfix)
			}
			if utf8.ValidString(tt.final) && !utf8.ValidString(got) {
				t.Errorf("For() = %q cuts a UTF-8 sequence", got)
			}
			if !Is(got) {
				t.Errorf("Is(For(%q)) = false, want true", tt.final)
			}
			if again := For(tt.final); again == got {
				t.Errorf("For() returned %q twice, want a fresh name each time", got)
			}
		})
	}
}

func TestShorten(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{"shorter than n", "abc", 5, "abc"},
		{"exactly n", "abc", 3, "abc"},
		{"ascii cut", "abcdef", 4, "abcd"},
		{"cut after a 3-byte rune", "教学", 3, "教"},
		{"cut inside a 3-byte rune", "教学", 4, "教"},
		{"cut inside the first rune", "教学", 2, ""},
		{"cut inside a 4-byte rune, last byte", "😀😀", 7, "😀"},
		{"cut inside a 4-byte rune, first byte", "😀😀", 5, "😀"},
		{"zero", "abc", 0, ""},
		{"invalid utf-8 stays within n", "\xff\xfe\xfd\xfc", 2, "\xff\xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Shorten(tt.s, tt.n); got != tt.want {
				t.Errorf("Shorten(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
		})
	}
}

func TestIsTemp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"temp", ".a.copyd-0123456789abcdef.tmp", true},
		{"temp of a dotted name", ".archive.tar.gz.copyd-fedcba9876543210.tmp", true},
		{"temp with a newline", ".a\nb.copyd-0123456789abcdef.tmp", true},
		{"temp of chinese name", ".第01讲 多进程.mp4.copyd-0123456789abcdef.tmp", true},
		{"user's .x.tmp", ".x.tmp", false},
		// Another build's temps: anything matching .*.copyd-*.tmp.
		{"8 hex digits", ".x.copyd-12345678.tmp", true},
		{"short random part", ".a.copyd-zz.tmp", true},
		{"17 hex digits", ".a.copyd-0123456789abcdef0.tmp", true},
		{"uppercase hex", ".a.copyd-0123456789ABCDEF.tmp", true},
		{"empty random part", ".a.copyd-.tmp", true},
		{"empty name part", "..copyd-1.tmp", true},
		{"no leading dot", "a.copyd-0123456789abcdef.tmp", false},
		{"infix is the leading dot's", ".copyd-1.tmp", false},
		{"infix inside the suffix", ".a.copyd.tmp", false},
		{"other suffix", ".a.copyd-0123456789abcdef.part", false},
		{"other infix", ".a.rsync-0123456789abcdef.tmp", false},
		{"plain file", "a.txt", false},
		{"empty", "", false},
		{"just a dot", ".", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Is(tt.in); got != tt.want {
				t.Errorf("Is(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestBeside: the temp path stays within MaxPathLen where the file's own
// path does and its name is at least the pattern's length.
func TestBeside(t *testing.T) {
	t.Parallel()
	dirOf := func(n int) string { return "/" + strings.Repeat("d", n-2) + "/" }
	tests := []struct {
		name     string
		path     string
		wantBase string // the part of the name kept
	}{
		{"short path", "/data/lesson.mp4", "lesson.mp4"},
		{"255-byte name", "/data/" + strings.Repeat("a", 255), strings.Repeat("a", MaxNameLen-tempOverhead)},
		{"name ending at PATH_MAX", dirOf(4000) + strings.Repeat("f", 95), strings.Repeat("f", 95-tempOverhead)},
		{"name of the pattern's length at PATH_MAX", dirOf(4095-tempOverhead) + strings.Repeat("f", tempOverhead), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Beside(tt.path)
			dir, name := filepath.Split(got)
			if want, _ := filepath.Split(tt.path); dir != want {
				t.Errorf("Beside(%q) is in %q, want %q", tt.path, dir, want)
			}
			if !strings.HasPrefix(name, "."+tt.wantBase+tempInfix) || !Is(name) {
				t.Errorf("Beside() name = %q, want a temp name for %q", name, tt.wantBase)
			}
			if len(tt.path) <= MaxPathLen && len(got) > MaxPathLen {
				t.Errorf("Beside(%d bytes) is %d bytes, past MaxPathLen", len(tt.path), len(got))
			}
		})
	}
}
