package exclude

import "testing"

func TestExcluder(t *testing.T) {
	t.Parallel()
	all := []string{"*.tmp", "cache/", "/top-only", "!keep.tmp", "**/build", "~$*", ".DS_Store"}
	tests := []struct {
		name     string
		patterns []string
		path     string
		isDir    bool
		want     bool
	}{
		{"no patterns", nil, "a.tmp", false, false},
		{"root is never excluded", all, "", true, false},

		{"*.tmp at the root", []string{"*.tmp"}, "a.tmp", false, true},
		{"*.tmp deep", []string{"*.tmp"}, "a/b/c.tmp", false, true},
		{"*.tmp matches a folder too", []string{"*.tmp"}, "a/x.tmp", true, true},
		{"*.tmp not a suffix lookalike", []string{"*.tmp"}, "a.tmpl", false, false},
		{"*.tmp inside an excluded folder", []string{"*.tmp"}, "x.tmp/inner.txt", false, true},

		{"cache/ folder", []string{"cache/"}, "cache", true, true},
		{"cache/ is folder-only", []string{"cache/"}, "cache", false, false},
		{"cache/ deep folder", []string{"cache/"}, "a/b/cache", true, true},
		{"cache/ file inside", []string{"cache/"}, "cache/x.bin", false, true},
		{"cache/ deep file inside", []string{"cache/"}, "a/cache/sub/x.bin", false, true},
		{"cache/ not a prefix lookalike", []string{"cache/"}, "cache2", true, false},

		{"/top-only at the root", []string{"/top-only"}, "top-only", false, true},
		{"/top-only folder at the root", []string{"/top-only"}, "top-only", true, true},
		{"/top-only inside it", []string{"/top-only"}, "top-only/x", false, true},
		{"/top-only is anchored", []string{"/top-only"}, "a/top-only", false, false},

		{"!keep.tmp re-includes", all, "keep.tmp", false, false},
		{"!keep.tmp re-includes deep", all, "a/keep.tmp", false, false},
		{"!keep.tmp leaves others", all, "other.tmp", false, true},
		// git: "It is not possible to re-include a file if a parent
		// directory of that file is excluded." excluder.excluded promises
		// that patterns match through excluded parents.
		{"!keep.tmp cannot re-include below an excluded folder", all, "cache/keep.tmp", false, true},
		{"!keep.tmp cannot re-include below an excluded build", all, "a/build/keep.tmp", false, true},

		{"**/build at the root", []string{"**/build"}, "build", true, true},
		{"**/build deep", []string{"**/build"}, "a/b/build", true, true},
		{"**/build file inside", []string{"**/build"}, "a/build/out.o", false, true},
		{"**/build not a suffix lookalike", []string{"**/build"}, "a/rebuild", true, false},
		{"**/build not a prefix lookalike", []string{"**/build"}, "build.txt", false, false},

		{"~$* office lock file", []string{"~$*"}, "~$report.docx", false, true},
		{"~$* deep", []string{"~$*"}, "docs/~$x.xlsx", false, true},
		{"~$* needs the dollar", []string{"~$*"}, "~report.docx", false, false},

		{".DS_Store", []string{".DS_Store"}, ".DS_Store", false, true},
		{".DS_Store deep", []string{".DS_Store"}, "a/b/.DS_Store", false, true},
		{".DS_Store exact", []string{".DS_Store"}, "x.DS_Store", false, false},

		{"all: plain file kept", all, "src/main.go", false, false},
		{"all: chinese name kept", all, "python教学视频/第01讲 多进程.mp4", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := New(tt.patterns)
			if got := e.Excluded(tt.path, tt.isDir); got != tt.want {
				t.Errorf("excluded(%q, isDir=%v) with %q = %v, want %v", tt.path, tt.isDir, tt.patterns, got, tt.want)
			}
		})
	}
}
