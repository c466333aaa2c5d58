package config

import (
	"errors"
	"testing"
)

// okPair is a valid pairs: section for cases about other settings; each
// case's tree holds "src/".
const okPair = `pairs:
  - source: $T/src
    destination: $T/dst
`

func TestParseBad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tree    []string // created under $T before parsing
		yaml    string   // $T is the temp folder
		want    string   // the whole error text
		wantErr error    // every problem wraps it
	}{
		// YAML syntax.
		{"tab in indentation", []string{"src/"},
			"pairs:\n  - source: $T/src\n    delete: true\n\tdestination: $T/dst\n",
			"config.yaml:4: line 4 is indented with a tab; YAML needs spaces, so replace the tab with spaces", ErrSyntax},
		{"tab before list item", nil,
			"workers: 3\npairs:\n\t- source: /a\n",
			"config.yaml:3: line 3 is indented with a tab; YAML needs spaces, so replace the tab with spaces", ErrSyntax},
		{"tab-only line", nil,
			"pairs:\n- source: /a\n  destination: /b\n\t\n",
			"config.yaml:4: line 4 is indented with a tab; YAML needs spaces, so replace the tab with spaces", ErrSyntax},
		{"misaligned list item", nil,
			"pairs:\n  - source: /a\n    exclude:\n      - a\n     - b\n",
			"config.yaml:5: the indentation does not line up with the lines above; indent entries of one level by the same number of spaces", ErrSyntax},
		{"value indented under a value", nil,
			"pairs:\n  - source: /a\n    destination: /b\n      fsync: true\n",
			`config.yaml:4: a colon is out of place; check the indentation, and quote values that contain ": "`, ErrSyntax},
		{"reserved character", nil,
			"pairs:\n  - source: /a\n    exclude:\n    - @x\n",
			"config.yaml:4: a value starts with a character YAML reserves (such as @ or `); put the value in quotes", ErrSyntax},
		{"unclosed list", nil,
			"workers: 3\nsettle: 1s\npairs: [a, b\nrescan: 1h\n",
			"config.yaml:3: a list opened with [ is not closed; add the missing ] or a comma between items", ErrSyntax},
		{"unclosed quote", nil,
			"workers: 3\nlog:\n  level: \"info\n",
			"config.yaml:3: the file ends inside a quoted value; close the quote", ErrSyntax},
		{"colon in plain value", nil,
			"workers: 3\nlog:\n  level: info: debug\n",
			`config.yaml:3: a colon is out of place; check the indentation, and quote values that contain ": "`, ErrSyntax},
		{"unknown anchor", nil,
			"workers: 3\nsettle: *quick\n",
			"config.yaml:2: *quick refers to no anchor; define &quick earlier in the file or remove the reference", ErrSyntax},
		{"control character", nil,
			"workers: 3\nsettle: 1s\x01\n",
			"config.yaml:2: the file holds a control character or bytes that are not UTF-8; save it as UTF-8 text", ErrSyntax},
		{"second document", []string{"src/"},
			okPair + "---\nworkers: 2\n",
			"config.yaml:4: a second YAML document starts here; keep the whole configuration in one document", ErrSyntax},
		{"key given twice", []string{"src/"},
			"workers: 3\nsettle: 1s\nworkers: 4\n" + okPair,
			"config.yaml:3: workers: this key appears twice (first on line 1); keep one of them", ErrSyntax},

		// Shape and unknown keys.
		{"empty file", nil, "",
			"config.yaml: the file is empty; add at least one pair with a source and a destination (see config.example.yaml)", ErrNoPairs},
		{"only comments", nil, "# copyd\n\n# nothing yet\n",
			"config.yaml: the file is empty; add at least one pair with a source and a destination (see config.example.yaml)", ErrNoPairs},
		{"no pairs key", nil, "workers: 2\n",
			"config.yaml: pairs: no pairs are configured; add at least one pair with a source and a destination (see config.example.yaml)", ErrNoPairs},
		{"top level is a list", nil, "- source: /a\n  destination: /b\n",
			"config.yaml:1: the file must be a mapping of settings such as workers: and pairs:; start from config.example.yaml", ErrBadValue},
		{"pairs without dashes", nil, "pairs:\n  source: /a\n  destination: /b\n",
			`config.yaml:1: pairs: expected a list of pairs, each item starting with "- "; found a mapping of keys`, ErrBadValue},
		{"misspelled pair key", []string{"src/"},
			"pairs:\n  - source: $T/src\n    destination: $T/dst\n\n    destinaton: $T/other\n",
			"config.yaml:5: pairs[0].destinaton: unknown key; did you mean destination?", ErrUnknownKey},
		{"misspelled top key", []string{"src/"}, "max-delay: 5s\n" + okPair,
			"config.yaml:1: max-delay: unknown key; did you mean max_delay?", ErrUnknownKey},
		{"key from another tool", []string{"src/"}, "pairs:\n  - src: $T/src\n    destination: $T/dst\n",
			"config.yaml:2: pairs[0].src: unknown key; did you mean source?\n" +
				"config.yaml:2: pairs[0].source: no folder given; set it to the folder to copy", ErrUnknownKey},
		{"unknown key without a near miss", []string{"src/"}, "color: blue\n" + okPair,
			"config.yaml:1: color: unknown key; remove it or use one of workers, settle, max_delay, rescan, state_dir, log, status, pairs", ErrUnknownKey},
		{"pair key at top level", []string{"src/"}, "exclude: [\"*.tmp\"]\n" + okPair,
			"config.yaml:1: exclude: unknown key at the top level; exclude belongs to a pair, so move it into an item under pairs:", ErrUnknownKey},

		// Values.
		{"workers not a number", []string{"src/"}, "# copyd\n\nworkers: many\n" + okPair,
			`config.yaml:3: workers: "many" is not a number`, ErrBadValue},
		{"workers fraction", []string{"src/"}, "workers: 2.5\n" + okPair,
			"config.yaml:1: workers: 2.5 is not a whole number; use a number such as 8", ErrBadValue},
		{"workers zero", []string{"src/"}, "workers: 0\n" + okPair,
			"config.yaml:1: workers: 0 is too few; use 1 or more", ErrBadValue},
		{"workers is a list", []string{"src/"}, "workers: [4]\n" + okPair,
			"config.yaml:1: workers: expected a number, found a list", ErrBadValue},
		{"settle not a duration", []string{"src/"}, "settle: soon\n" + okPair,
			`config.yaml:1: settle: "soon" is not a duration; write it like 250ms, 10s, 5m or 1h`, ErrBadValue},
		{"duration without unit", []string{"src/"}, "settle: 5\n" + okPair,
			"config.yaml:1: settle: 5 has no unit; write it as 5s or 5ms", ErrBadValue},
		{"negative settle", []string{"src/"}, "settle: -1s\n" + okPair,
			"config.yaml:1: settle: -1s is negative; use 0 or more", ErrBadValue},
		{"max_delay shorter than settle", []string{"src/"}, "settle: 2s\nmax_delay: 1s\n" + okPair,
			"config.yaml:2: max_delay: 1s is shorter than settle (2s); make it at least as long as settle", ErrBadValue},
		{"settle longer than default max_delay", []string{"src/"}, "settle: 1m\n" + okPair,
			"config.yaml:1: settle: 1m is longer than max_delay (10s by default); shorten settle or set a longer max_delay", ErrBadValue},
		{"max_delay zero", []string{"src/"}, "settle: 0s\nmax_delay: 0s\n" + okPair,
			"config.yaml:2: max_delay: 0s is too short; use a duration above 0, such as 10s", ErrBadValue},
		{"rescan too short", []string{"src/"}, "rescan: 500ms\n" + okPair,
			"config.yaml:1: rescan: 500ms is too short; use 1s or more, or 0 to turn periodic rescans off", ErrBadValue},
		{"log level", []string{"src/"}, "log:\n  level: verbose\n" + okPair,
			`config.yaml:2: log.level: "verbose" is not a log level; use debug, info, warn or error`, ErrBadValue},
		{"log format", []string{"src/"}, "log: {level: info, format: xml}\n" + okPair,
			`config.yaml:1: log.format: "xml" is not a log format; use text or json`, ErrBadValue},
		{"log is a value", []string{"src/"}, "log: debug\n" + okPair,
			`config.yaml:1: log: expected settings on the lines below, indented; found "debug"`, ErrBadValue},
		{"status listen without port", []string{"src/"}, "status:\n  listen: localhost\n" + okPair,
			`config.yaml:2: status.listen: "localhost" is not a host:port address; write one such as 127.0.0.1:9471, or "" to turn the status endpoint off`, ErrBadValue},
		{"status listen on every interface", []string{"src/"}, "status: {listen: \":9471\"}\n" + okPair,
			`config.yaml:1: status.listen: ":9471" is reachable from other machines, and the endpoint has no password and shows paths and errors; use 127.0.0.1 or ::1, or set status: allow_remote: true if a firewall guards it`, ErrBadValue},
		{"status listen on a LAN address", []string{"src/"}, "status: {listen: \"192.168.1.5:9471\", allow_remote: false}\n" + okPair,
			`config.yaml:1: status.listen: "192.168.1.5:9471" is reachable from other machines, and the endpoint has no password and shows paths and errors; use 127.0.0.1 or ::1, or set status: allow_remote: true if a firewall guards it`, ErrBadValue},
		{"status listen port out of range", []string{"src/"}, "status: {listen: \"127.0.0.1:70000\"}\n" + okPair,
			`config.yaml:1: status.listen: "127.0.0.1:70000" is not a host:port address; write one such as 127.0.0.1:9471, or "" to turn the status endpoint off`, ErrBadValue},
		{"delete not a boolean", []string{"src/"}, okPair + "    delete: maybe\n",
			`config.yaml:4: pairs[0].delete: "maybe" is not true or false`, ErrBadValue},
		{"exclude is a string", []string{"src/"}, okPair + "    exclude: \"*.tmp\"\n",
			`config.yaml:4: pairs[0].exclude: expected a list of patterns such as ["*.tmp", "cache/"]; found "*.tmp"`, ErrBadValue},
		{"empty exclude pattern", []string{"src/"}, okPair + "    exclude:\n      - \"*.tmp\"\n      - \"\"\n",
			"config.yaml:6: pairs[0].exclude[1]: the pattern is empty; remove the item or write a pattern", ErrBadValue},
		{"empty name", []string{"src/"}, okPair + "    name: \"\"\n",
			"config.yaml:4: pairs[0].name: the name is empty; give the pair a name, or remove name: to use the source folder's name", ErrBadValue},
		{"pair is a value", nil, "pairs:\n  - /a\n",
			`config.yaml:2: pairs[0]: expected a pair with source: and destination: on the lines below, indented; found "/a"`, ErrBadValue},
		{"missing destination", []string{"src/"}, "pairs:\n  - name: videos\n    source: $T/src\n",
			"config.yaml:2: pairs[0].destination: no folder given; set it to the folder to copy into", ErrBadValue},
		{"tilde path", []string{"src/"}, "pairs:\n  - source: $T/src\n    destination: ~/backup\n",
			"config.yaml:3: pairs[0].destination: ~/backup starts with ~, which copyd does not expand; write the full path", ErrBadValue},

		{"scp-style destination", []string{"src/"}, "pairs:\n  - source: $T/src\n    destination: user@nas:/backup\n",
			`config.yaml:3: pairs[0].destination: "user@nas:/backup" looks like scp's host:path, which copyd does not take as a remote: write sftp://user@nas/backup (or ./user@nas:/backup for a local folder whose name has a colon)`, ErrBadValue},
		{"unknown scheme", []string{"src/"}, "pairs:\n  - source: $T/src\n    destination: ftp://nas/backup\n",
			`config.yaml:3: pairs[0].destination: "ftp://nas/backup": unknown destination scheme "ftp": use a local folder, s3://bucket/prefix or sftp://user@host/path`, ErrBadValue},
		{"password in an sftp destination", []string{"src/"}, "pairs:\n  - source: $T/src\n    destination: sftp://root:Hunter2Secret@nas/backup\n",
			`config.yaml:3: pairs[0].destination: "sftp://root:***@nas/backup" holds a password: copyd logs in with keys (an agent or a key file in the pair's sftp: block), never a password in the URL`, ErrBadValue},
		{"credentials in an s3 destination", []string{"src/"}, "pairs:\n  - source: $T/src\n    destination: s3://AKIAEXAMPLE:S3UrlSecret@bkt/x\n",
			"config.yaml:3: pairs[0].destination: credentials go in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a credentials file, never in the URL: write s3://bkt/x", ErrBadValue},
		{"s3 block on a local destination", []string{"src/"}, "pairs:\n  - source: $T/src\n    destination: $T/dst\n    s3:\n      region: eu-west-1\n",
			"config.yaml:4: pairs[0].s3: an s3: block belongs to a pair whose destination is s3://bucket/prefix; remove it or change the destination", ErrBadValue},
		{"sftp block on an s3 destination", []string{"src/"}, "pairs:\n  - source: $T/src\n    destination: s3://bucket/x\n    sftp:\n      connections: 2\n",
			"config.yaml:4: pairs[0].sftp: an sftp: block belongs to a pair whose destination is sftp://user@host/path; remove it or change the destination", ErrBadValue},
		{"archive on a remote", []string{"src/"}, "pairs:\n  - source: $T/src\n    destination: s3://bucket/x\n    archive: $T/old\n",
			"config.yaml:4: pairs[0].archive: archive: is for local destinations in this version; remove it (with delete: true, versioning on the bucket or server keeps replaced files)", ErrBadValue},
		{"missing key file", []string{"src/"}, "pairs:\n  - source: $T/src\n    destination: sftp://me@nas/backup\n    sftp:\n      key_file: $T/id_none\n",
			"config.yaml:5: pairs[0].sftp.key_file: $T/id_none cannot be read (no such file or directory); give the path of an existing file", ErrBadValue},
		{"unknown s3 key", []string{"src/"}, "pairs:\n  - source: $T/src\n    destination: s3://bucket/x\n    s3:\n      secret_key: hunter2\n",
			"config.yaml:5: pairs[0].s3.secret_key: unknown key; remove it or use one of endpoint, region, path_style, credentials_file, connections", ErrUnknownKey},
		{"two pairs into one prefix", []string{"a/", "b/"}, "pairs:\n  - source: $T/a\n    destination: s3://bucket/x\n  - source: $T/b\n    destination: s3://bucket/x/y\n",
			"config.yaml:5: pairs[1].destination: s3://bucket/x/y overlaps s3://bucket/x, the destination of pair \"a\" (line 2); give each pair its own bucket prefix or server folder", ErrDestOverlap},
		{"one server by name and by address", []string{"a/", "b/"},
			"pairs:\n  - source: $T/a\n    destination: sftp://root@127.0.0.1:2299/srv/ov\n    delete: true\n  - source: $T/b\n    destination: sftp://root@LocalHost:2299/srv/ov/inner/\n",
			"config.yaml:6: pairs[1].destination: sftp://root@LocalHost:2299/srv/ov/inner/ overlaps sftp://root@127.0.0.1:2299/srv/ov, the destination of pair \"a\" (line 2); give each pair its own bucket prefix or server folder", ErrDestOverlap},
		{"one server folder, two users", []string{"a/", "b/"},
			"pairs:\n  - source: $T/a\n    destination: sftp://alice@nas/srv/x\n  - source: $T/b\n    destination: sftp://bob@nas:22/srv/x\n",
			"config.yaml:5: pairs[1].destination: sftp://bob@nas:22/srv/x overlaps sftp://alice@nas/srv/x, the destination of pair \"a\" (line 2); give each pair its own bucket prefix or server folder", ErrDestOverlap},
		{"one s3 endpoint written two ways", []string{"a/", "b/"},
			"pairs:\n  - source: $T/a\n    destination: s3://bucket/x\n    s3: {endpoint: \"http://LOCALHOST:9000/\"}\n  - source: $T/b\n    destination: s3://bucket\n    s3: {endpoint: \"127.0.0.1:9000\"}\n",
			"config.yaml:6: pairs[1].destination: s3://bucket overlaps s3://bucket/x, the destination of pair \"a\" (line 2); give each pair its own bucket prefix or server folder", ErrDestOverlap},

		// Folders.
		{"source missing", nil, "pairs:\n  - source: $T/nope\n    destination: $T/dst\n",
			"config.yaml:2: pairs[0].source: $T/nope does not exist; check the path or create the folder", ErrSourceMissing},
		{"source is a dangling link", []string{"src -> gone"}, okPair,
			"config.yaml:2: pairs[0].source: $T/src is a symbolic link to gone, which does not exist; fix the link or the path", ErrSourceMissing},
		{"source is a file", []string{"src"}, okPair,
			"config.yaml:2: pairs[0].source: $T/src is a file, not a folder; give the folder to copy", ErrSourceNotDir},
		{"destination is the source", []string{"src/"}, "pairs:\n  - source: $T/src\n    destination: $T/src/\n",
			"config.yaml:3: pairs[0].destination: $T/src is the source folder itself; choose a destination outside the source", ErrDestInsideSource},
		{"destination inside source", []string{"src/"}, "pairs:\n  - source: $T/src\n    destination: $T/src/backup\n",
			"config.yaml:3: pairs[0].destination: $T/src/backup is inside source $T/src; choose a folder outside it", ErrDestInsideSource},
		{"destination inside source through a link", []string{"src/", "mnt -> src"}, "pairs:\n  - source: $T/src\n    destination: $T/mnt/backup\n",
			"config.yaml:3: pairs[0].destination: $T/mnt/backup (which leads to $T/src/backup) is inside source $T/src; choose a folder outside it", ErrDestInsideSource},
		{"source inside destination", []string{"data/src/"}, "pairs:\n  - source: $T/data/src\n    destination: $T/data\n",
			"config.yaml:3: pairs[0].destination: $T/data contains source $T/data/src; choose a destination outside the source", ErrSourceInsideDest},
		{"similar names do not overlap", []string{"src/", "srcx"}, "pairs:\n  - source: $T/src\n    destination: $T/srcx\n",
			"config.yaml:3: pairs[0].destination: $T/srcx is a file, not a folder; choose a folder", ErrDestUnwritable},
		{"two pairs, one destination", []string{"a/", "b/"},
			"pairs:\n  - source: $T/a\n    destination: $T/dst\n  - source: $T/b\n    destination: $T/dst\n",
			`config.yaml:5: pairs[1].destination: $T/dst is also the destination of pair "a" (line 2); give each pair its own destination folder`, ErrDestOverlap},
		{"destination inside another destination", []string{"a/", "b/"},
			"pairs:\n  - source: $T/a\n    destination: $T/dst\n  - source: $T/b\n    destination: $T/dst/b\n",
			`config.yaml:5: pairs[1].destination: $T/dst/b is inside $T/dst, the destination of pair "a" (line 2); give each pair its own destination folder`, ErrDestOverlap},
		{"duplicate name", []string{"a/", "b/"},
			"pairs:\n  - name: home\n    source: $T/a\n    destination: $T/x\n  - name: home\n    source: $T/b\n    destination: $T/y\n",
			`config.yaml:5: pairs[1].name: "home" is already the name of pair "home" (line 2); give each pair its own name`, ErrDuplicateName},
		{"duplicate default name", []string{"one/videos/", "two/videos/"},
			"pairs:\n  - source: $T/one/videos\n    destination: $T/x\n  - source: $T/two/videos\n    destination: $T/y\n",
			`config.yaml:4: pairs[1].name: "videos", the source folder's name, is already the name of pair "videos" (line 2); add a name: to one of them`, ErrDuplicateName},
		{"destination parent is a file", []string{"src/", "file"}, "pairs:\n  - source: $T/src\n    destination: $T/file/dst\n",
			"config.yaml:3: pairs[0].destination: $T/file/dst cannot be created because $T/file is a file; choose another folder", ErrDestUnwritable},
		{"archive inside destination", []string{"src/"}, okPair + "    archive: $T/dst/.archive\n",
			"config.yaml:4: pairs[0].archive: $T/dst/.archive is inside $T/dst, this pair's destination; choose an archive folder outside every source and destination", ErrArchiveOverlap},
		{"archive is the source", []string{"src/"}, okPair + "    archive: $T/src\n",
			"config.yaml:4: pairs[0].archive: $T/src is this pair's source; choose an archive folder outside every source and destination", ErrArchiveOverlap},
		{"archive contains another pair's source", []string{"src/", "b/c/"},
			okPair + "    archive: $T/b\n  - source: $T/b/c\n    destination: $T/dst2\n",
			`config.yaml:4: pairs[0].archive: $T/b contains $T/b/c, the source of pair "c" (line 5); choose an archive folder outside every source and destination`, ErrArchiveOverlap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := tempRoot(t)
			mkTree(t, root, tt.tree...)
			c, err := Parse("config.yaml", []byte(expand(tt.yaml, root)))
			if err == nil {
				t.Fatalf("Parse() = %+v, want error %q", c, expand(tt.want, root))
			}
			if got, want := err.Error(), expand(tt.want, root); got != want {
				t.Errorf("Parse() error =\n%s\nwant\n%s", got, want)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Parse() error = %v, want errors.Is %v", err, tt.wantErr)
			}
			if c != nil && !errors.Is(err, ErrSourceMissing) {
				t.Errorf("Parse() config = %+v, want nil with an error", c)
			}
		})
	}
}

// TestParseReportsEveryProblem checks that one error reports problems of
// every kind, sorted by line.
func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	mkTree(t, root, "a/", "b/")
	yaml := expand(`workers: none
rescan: 10ms
log: {level: loud}
pairs:
  - source: $T/a
    destination: $T/a/copy
    fsync: sometimes
  - source: $T/b
    destination: $T/missing/parent/x
    destinaton: $T/y
  - name: b
    source: $T/nope
    destination: $T/missing/parent
`, root)
	_, err := Parse("config.yaml", []byte(yaml))
	want := []struct {
		line     int
		key      string
		sentinel error
	}{
		{1, "workers", ErrBadValue},
		{2, "rescan", ErrBadValue},
		{3, "log.level", ErrBadValue},
		{6, "pairs[0].destination", ErrDestInsideSource},
		{7, "pairs[0].fsync", ErrBadValue},
		{10, "pairs[1].destinaton", ErrUnknownKey},
		{11, "pairs[2].name", ErrDuplicateName},
		{12, "pairs[2].source", ErrSourceMissing},
		{13, "pairs[2].destination", ErrDestOverlap},
	}
	got := problems(t, err)
	if len(got) != len(want) {
		t.Fatalf("Parse() error has %d problems, want %d:\n%v", len(got), len(want), err)
	}
	for i, w := range want {
		p := got[i]
		if p.File != "config.yaml" || p.Line != w.line || p.Key != w.key || !errors.Is(p, w.sentinel) {
			t.Errorf("problem %d = %q (line %d, key %q), want line %d, key %q, %v", i, p, p.Line, p.Key, w.line, w.key, w.sentinel)
		}
	}
}
