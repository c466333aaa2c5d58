package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestExampleConfig loads config.example.yaml, with its folders moved into
// a temp folder, so that the example never rots.
func TestExampleConfig(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root := tempRoot(t)
	mkTree(t, root, "srv/python教学视频/", "home/alice/")
	// One pass, longest match first: "/mnt/backup/home/alice" must not
	// become a path under the temp copy of /home/alice.
	text := strings.NewReplacer(
		"/srv/", root+"/srv/",
		"/mnt/backup/", root+"/mnt/backup/",
		"/home/alice", root+"/home/alice",
	).Replace(string(data))
	for _, placeholder := range []string{" /srv/", " /mnt/", " /home/"} {
		if strings.Contains(text, placeholder) {
			t.Fatalf("example still holds a path starting with %q after replacing", placeholder)
		}
	}
	file := filepath.Join(root, "config.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(file)
	if err != nil {
		t.Fatalf("Load(example) error = %v", err)
	}
	want := &Config{
		File:     file,
		Workers:  defaultWorkers(),
		Settle:   250 * time.Millisecond,
		MaxDelay: 10 * time.Second,
		Rescan:   time.Hour,
		StateDir: DefaultStateDir(),
		Log:      Log{Level: "info", Format: "text"},
		Status:   Status{Listen: "127.0.0.1:9471"},
		Pairs: []Pair{{
			Name:        "teaching-videos",
			Source:      root + "/srv/python教学视频",
			Destination: root + "/mnt/backup/python教学视频",
			Exclude:     []string{"*.tmp", "~$*", ".DS_Store", "cache/"},
			Fsync:       true,
		}, {
			Name:        "alice-home",
			Source:      root + "/home/alice",
			Destination: root + "/mnt/backup/home/alice",
			Delete:      true,
			Archive:     root + "/mnt/backup/archive/alice-home",
			Exclude:     []string{".cache/", "node_modules/", "Downloads/", "*.tmp", "*.swp", "~$*", ".DS_Store", "Thumbs.db"},
			Fsync:       true,
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(example) =\n%+v\nwant\n%+v", got, want)
	}
	for _, key := range append(append(append(append([]string{}, topKeys...), logKeys...), statusKeys...), pairKeys...) {
		if !strings.Contains(string(data), key+":") {
			t.Errorf("config.example.yaml does not document %s:", key)
		}
	}

	// The commented-out workers line must work when uncommented.
	uncommented := strings.Replace(text, "#workers: 8", "workers: 8", 1)
	if uncommented == text {
		t.Fatal(`config.example.yaml has no "#workers: 8" line`)
	}
	got, err = Parse(file, []byte(uncommented))
	if err != nil || got.Workers != 8 {
		t.Errorf("Parse(example with workers uncommented) = %v, %v; want workers 8", got, err)
	}
}
