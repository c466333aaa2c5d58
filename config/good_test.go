package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestParseGood(t *testing.T) {
	t.Parallel()
	workers := defaultWorkers()
	tests := []struct {
		name string
		tree []string // created under $T
		yaml string   // written to $T/conf/config.yaml
		want Config   // File is $T/conf/config.yaml; $T expanded in paths
	}{
		{"defaults", []string{"videos/"},
			"pairs:\n  - source: $T/videos\n    destination: $T/backup/videos\n",
			Config{Workers: workers, Settle: 250 * time.Millisecond, MaxDelay: 10 * time.Second, Rescan: time.Hour,
				Log: Log{Level: "info", Format: "text"}, Status: Status{Listen: "127.0.0.1:9471"},
				Pairs: []Pair{{Name: "videos", Source: "$T/videos", Destination: "$T/backup/videos", Fsync: true}}}},
		{"an explicitly empty pair list (the packaged config)", nil, "pairs: []\n",
			Config{Workers: workers, Settle: 250 * time.Millisecond, MaxDelay: 10 * time.Second, Rescan: time.Hour,
				Log: Log{Level: "info", Format: "text"}, Status: Status{Listen: "127.0.0.1:9471"}}},
		{"status on loopback (IPv6, localhost) and a remote address allowed", []string{"v/"},
			"status: {listen: \"0.0.0.0:9471\", allow_remote: true}\npairs:\n  - source: $T/v\n    destination: $T/b\n",
			Config{Workers: workers, Settle: 250 * time.Millisecond, MaxDelay: 10 * time.Second, Rescan: time.Hour,
				Log: Log{Level: "info", Format: "text"}, Status: Status{Listen: "0.0.0.0:9471", AllowRemote: true},
				Pairs: []Pair{{Name: "v", Source: "$T/v", Destination: "$T/b", Fsync: true}}}},
		{"status on IPv6 loopback", []string{"v/"},
			"status: {listen: \"[::1]:9471\"}\npairs:\n  - source: $T/v\n    destination: $T/b\n",
			Config{Workers: workers, Settle: 250 * time.Millisecond, MaxDelay: 10 * time.Second, Rescan: time.Hour,
				Log: Log{Level: "info", Format: "text"}, Status: Status{Listen: "[::1]:9471"},
				Pairs: []Pair{{Name: "v", Source: "$T/v", Destination: "$T/b", Fsync: true}}}},
		{"pairs: with every item commented out", nil, "workers: 2\npairs:\n#  - source: /srv/x\n#    destination: /mnt/x\n",
			Config{Workers: 2, Settle: 250 * time.Millisecond, MaxDelay: 10 * time.Second, Rescan: time.Hour,
				Log: Log{Level: "info", Format: "text"}, Status: Status{Listen: "127.0.0.1:9471"}}},
		{"every key", []string{"videos/", "home/"}, `workers: 3
settle: 0s
max_delay: 2m
rescan: 0
log: {level: debug, format: json}
status: {listen: ""}
pairs:
  - name: teaching
    source: $T/videos/
    destination: $T/backup//videos
    delete: true
    archive: $T/archive
    exclude: ["*.tmp", "cache/"]
    checksum: yes
    fsync: false
`,
			Config{Workers: 3, Settle: 0, MaxDelay: 2 * time.Minute, Rescan: 0,
				Log: Log{Level: "debug", Format: "json"}, Status: Status{Listen: ""},
				Pairs: []Pair{{Name: "teaching", Source: "$T/videos", Destination: "$T/backup/videos", Delete: true,
					Archive: "$T/archive", Exclude: []string{"*.tmp", "cache/"}, Checksum: true, Fsync: false}}}},
		{"relative paths against the file's folder", []string{"src/", "conf/"},
			"pairs:\n  - source: ../src\n    destination: backup\n    archive: ./old\n",
			Config{Workers: workers, Settle: DefaultSettle, MaxDelay: DefaultMaxDelay, Rescan: DefaultRescan,
				Log: Log{Level: "info", Format: "text"}, Status: Status{Listen: DefaultListen},
				Pairs: []Pair{{Name: "src", Source: "$T/src", Destination: "$T/conf/backup", Archive: "$T/conf/old", Fsync: true}}}},
		{"symlinked source is resolved, named after the link", []string{"disk/videos/", "videos -> disk/videos"},
			"pairs:\n  - source: $T/videos\n    destination: $T/backup\n",
			Config{Workers: workers, Settle: DefaultSettle, MaxDelay: DefaultMaxDelay, Rescan: DefaultRescan,
				Log: Log{Level: "info", Format: "text"}, Status: Status{Listen: DefaultListen},
				Pairs: []Pair{{Name: "videos", Source: "$T/disk/videos", Destination: "$T/backup", Fsync: true}}}},
		{"null values keep defaults, anchors share lists", []string{"a/", "b/"}, `workers:
status:
  listen:
pairs:
  - source: $T/a
    destination: $T/x
    archive:
    exclude: &common ["*.tmp", "~$*"]
  - source: $T/b
    destination: $T/y
    exclude: *common
    fsync: "no"
    delete: on
`,
			Config{Workers: workers, Settle: DefaultSettle, MaxDelay: DefaultMaxDelay, Rescan: DefaultRescan,
				Log: Log{Level: "info", Format: "text"}, Status: Status{Listen: DefaultListen},
				Pairs: []Pair{
					{Name: "a", Source: "$T/a", Destination: "$T/x", Exclude: []string{"*.tmp", "~$*"}, Fsync: true},
					{Name: "b", Source: "$T/b", Destination: "$T/y", Exclude: []string{"*.tmp", "~$*"}, Delete: true},
				}}},
		{"quoted number, chained pairs, similar names", []string{"data/", "data-copy/"}, `workers: "6"
pairs:
  - source: $T/data
    destination: $T/data-copy
  - source: $T/data-copy
    destination: $T/data-copy2
`,
			Config{Workers: 6, Settle: DefaultSettle, MaxDelay: DefaultMaxDelay, Rescan: DefaultRescan,
				Log: Log{Level: "info", Format: "text"}, Status: Status{Listen: DefaultListen},
				Pairs: []Pair{
					{Name: "data", Source: "$T/data", Destination: "$T/data-copy", Fsync: true},
					{Name: "data-copy", Source: "$T/data-copy", Destination: "$T/data-copy2", Fsync: true},
				}}},
		{"state_dir relative to the config's folder", []string{"data/"}, `state_dir: state
pairs:
  - source: $T/data
    destination: $T/copy
`,
			Config{Workers: workers, Settle: DefaultSettle, MaxDelay: DefaultMaxDelay, Rescan: DefaultRescan, StateDir: "$T/conf/state",
				Log: Log{Level: "info", Format: "text"}, Status: Status{Listen: DefaultListen},
				Pairs: []Pair{{Name: "data", Source: "$T/data", Destination: "$T/copy", Fsync: true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := tempRoot(t)
			mkTree(t, root, tt.tree...)
			file := filepath.Join(root, "conf", "config.yaml")
			mkTree(t, root, "conf/")
			if err := os.WriteFile(file, []byte(expand(tt.yaml, root)), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Load(file)
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			want := expandConfig(tt.want, root)
			want.File = file
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("Load() =\n%+v\nwant\n%+v", *got, want)
			}
		})
	}
}

// TestParseRemoteApart checks that remote destinations that only look
// alike are not taken for overlapping ones.
func TestParseRemoteApart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string // pairs[0] and pairs[1] after "destination: "
	}{
		{"different endpoints", "s3://bucket/x\n    s3: {endpoint: \"minio-a.invalid:9000\"}", "s3://bucket/x\n    s3: {endpoint: \"minio-b.invalid:9000\"}"},
		{"an endpoint and none", "s3://bucket/x\n    s3: {endpoint: \"127.0.0.1:9000\"}", "s3://bucket/x"},
		{"one endpoint, two ports", "s3://bucket/x\n    s3: {endpoint: \"http://127.0.0.1:9000\"}", "s3://bucket/x\n    s3: {endpoint: \"http://127.0.0.1:9001\"}"},
		{"prefixes with a common start", "s3://bucket/x", "s3://bucket/xy"},
		{"different buckets", "s3://bucket-a/x", "s3://bucket-b/x"},
		{"one server, two ports", "sftp://root@127.0.0.1:2299/srv/x", "sftp://root@localhost:2300/srv/x"},
		{"folders with a common start", "sftp://alice@nas/srv/x", "sftp://bob@nas/srv/xy"},
		{"different servers", "sftp://root@127.0.0.1/srv/x", "sftp://root@127.0.0.2/srv/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := tempRoot(t)
			mkTree(t, root, "a/", "b/")
			yaml := "pairs:\n  - source: $T/a\n    destination: " + tt.a + "\n  - source: $T/b\n    destination: " + tt.b + "\n"
			if _, err := Parse("config.yaml", []byte(expand(yaml, root))); err != nil {
				t.Errorf("Parse() error = %v, want none", err)
			}
		})
	}
}

// expandConfig replaces $T in c's paths.
// A StateDir left out means the default.
func expandConfig(c Config, root string) Config {
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir()
	}
	c.StateDir = expand(c.StateDir, root)
	c.Pairs = append([]Pair(nil), c.Pairs...)
	for i := range c.Pairs {
		p := &c.Pairs[i]
		p.Source, p.Destination, p.Archive = expand(p.Source, root), expand(p.Destination, root), expand(p.Archive, root)
	}
	return c
}

func TestParseMissingSourceReturnsConfig(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	mkTree(t, root, "b/")
	c, err := Parse("config.yaml", []byte(expand("pairs:\n  - source: $T/usb/a\n    destination: $T/x\n  - source: $T/b\n    destination: $T/y\n", root)))
	if !errors.Is(err, ErrSourceMissing) {
		t.Fatalf("Parse() error = %v, want %v", err, ErrSourceMissing)
	}
	if c == nil {
		t.Fatal("Parse() config = nil, want the config for a daemon to wait with")
	}
	if got, want := c.Pairs[0].Source, filepath.Join(root, "usb", "a"); got != want || c.Pairs[0].Name != "a" {
		t.Errorf("Pairs[0] = %+v, want source %s, name a", c.Pairs[0], want)
	}

	// Any other problem withholds the config.
	c, err = Parse("config.yaml", []byte(expand("workers: 0\npairs:\n  - source: $T/usb/a\n    destination: $T/x\n", root)))
	if c != nil || !errors.Is(err, ErrSourceMissing) || !errors.Is(err, ErrBadValue) {
		t.Errorf("Parse() = %v, %v; want nil and both problems", c, err)
	}
}

func TestForPaths(t *testing.T) {
	root := tempRoot(t)
	mkTree(t, root, "src/", "work/", "file")
	t.Chdir(filepath.Join(root, "work"))

	got, err := ForPaths("../src", "backup/")
	if err != nil {
		t.Fatalf("ForPaths() error = %v", err)
	}
	want := Config{Workers: defaultWorkers(), Settle: DefaultSettle, MaxDelay: DefaultMaxDelay, Rescan: DefaultRescan,
		StateDir: DefaultStateDir(), Log: Log{Level: "info", Format: "text"}, Status: Status{Listen: ""},
		Pairs: []Pair{{Name: "src", Source: root + "/src", Destination: root + "/work/backup", Fsync: true}}}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("ForPaths() =\n%+v\nwant\n%+v", *got, want)
	}

	bad := []struct {
		name, src, dst, want string
		wantErr              error
	}{
		{"missing source", root + "/nope", "out",
			"source: $T/nope does not exist; check the path or create the folder", ErrSourceMissing},
		{"source is a file", "../file", "out",
			"source: $T/file is a file, not a folder; give the folder to copy", ErrSourceNotDir},
		{"destination inside source", "../src", "../src/b",
			"destination: $T/src/b is inside source $T/src; choose a folder outside it", ErrDestInsideSource},
		{"source inside destination", "../src", "..",
			"destination: $T contains source $T/src; choose a destination outside the source", ErrSourceInsideDest},
		{"destination is a file", "../src", "../file",
			"destination: $T/file is a file, not a folder; choose a folder", ErrDestUnwritable},
		{"empty paths", "", "",
			"source: no folder given; set it to the folder to copy\ndestination: no folder given; set it to the folder to copy into", ErrBadValue},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ForPaths(tt.src, tt.dst)
			if err == nil || err.Error() != expand(tt.want, root) {
				t.Errorf("ForPaths(%q, %q) error = %v, want %s", tt.src, tt.dst, err, expand(tt.want, root))
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ForPaths(%q, %q) error = %v, want errors.Is %v", tt.src, tt.dst, err, tt.wantErr)
			}
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	tests := []struct {
		name, path, want string
		wantErr          error
	}{
		{"missing file", root + "/nope.yaml",
			"$T/nope.yaml: the file does not exist; check the path, or create it from config.example.yaml", os.ErrNotExist},
		{"folder", root,
			"$T: this is a folder; give the path of the YAML configuration file", ErrBadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(tt.path)
			if c != nil || err == nil || err.Error() != expand(tt.want, root) {
				t.Errorf("Load() = %v, %v; want nil, %s", c, err, expand(tt.want, root))
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Load() error = %v, want errors.Is %v", err, tt.wantErr)
			}
		})
	}
}

func TestProblemError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "c.yaml", Line: 3, Key: "workers", Msg: "m"}, "c.yaml:3: workers: m"},
		{Problem{File: "c.yaml", Key: "pairs", Msg: "m"}, "c.yaml: pairs: m"},
		{Problem{File: "c.yaml", Line: 4, Msg: "m"}, "c.yaml:4: m"},
		{Problem{Key: "source", Msg: "m"}, "source: m"},
		{Problem{Line: 2, Key: "k", Msg: "m"}, "line 2: k: m"},
		{Problem{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.p, got, tt.want)
		}
	}
	if p := (&Problem{Err: ErrNoPairs}); !errors.Is(p, ErrNoPairs) {
		t.Errorf("errors.Is(%v, ErrNoPairs) = false, want true", p)
	}
}
