package dest

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Location
		wantErr string // a part of the error; "" for none
	}{
		{in: "/srv/backup", want: Location{Scheme: SchemeLocal, Path: "/srv/backup"}},
		{in: "backup", want: Location{Scheme: SchemeLocal, Path: "backup"}},
		{in: "./odd:name", want: Location{Scheme: SchemeLocal, Path: "./odd:name"}},
		{in: "dir/with:colon", want: Location{Scheme: SchemeLocal, Path: "dir/with:colon"}},
		{in: `C:\backup`, want: Location{Scheme: SchemeLocal, Path: `C:\backup`}},
		{in: "D:/backup", want: Location{Scheme: SchemeLocal, Path: "D:/backup"}},
		{in: "s3://my-bucket/photos/2026/", want: Location{Scheme: SchemeS3, Bucket: "my-bucket", Prefix: "photos/2026"}},
		{in: "s3://my-bucket", want: Location{Scheme: SchemeS3, Bucket: "my-bucket"}},
		{in: "S3://my-bucket/x", want: Location{Scheme: SchemeS3, Bucket: "my-bucket", Prefix: "x"}},
		{in: "sftp://ann@nas.local:2222/backup/home", want: Location{Scheme: SchemeSFTP, User: "ann", Host: "nas.local", Port: 2222, Path: "/backup/home"}},
		{in: "sftp://nas/backup", want: Location{Scheme: SchemeSFTP, Host: "nas", Path: "/backup"}},
		{in: "sftp://[::1]:22/b", want: Location{Scheme: SchemeSFTP, Host: "::1", Port: 22, Path: "/b"}},

		{in: "", wantErr: "empty"},
		{in: "user@nas:/backup", wantErr: "sftp://user@nas/backup"},
		{in: "nas:backup", wantErr: "scp's host:path"},
		{in: "s3:/bucket/x", wantErr: "scp's host:path"},
		{in: "ftp://host/x", wantErr: `unknown destination scheme "ftp"`},
		{in: "s3:///x", wantErr: "names no bucket"},
		{in: "s3://My_Bucket/x", wantErr: "not a valid S3 bucket name"},
		{in: "s3://minio:9000/bucket/x", wantErr: "endpoint: host:port"},
		{in: "s3://bucket/../x", wantErr: "clean path"},
		{in: "s3://bucket/a//b", wantErr: "clean path"},
		{in: "sftp://ann:secret@nas/backup", wantErr: "never a password"},
		{in: "sftp://nas/backup/a:b@c", want: Location{Scheme: SchemeSFTP, Host: "nas", Path: "/backup/a:b@c"}},
		{in: "s3://bucket/me@home:x", want: Location{Scheme: SchemeS3, Bucket: "bucket", Prefix: "me@home:x"}},
		{in: "sftp:///backup", wantErr: "names no host"},
		{in: "sftp://nas", wantErr: "names no folder"},
		{in: "sftp://nas:99999/x", wantErr: "port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Parse(%q) = %+v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Parse(%q) error = %v", tt.in, err)
			case tt.wantErr == "" && got != tt.want:
				t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if err == nil && got.Remote() {
				again, err := Parse(got.String())
				if err != nil || again != got {
					t.Errorf("Parse(%q.String() = %q) = %+v, %v; want it back", tt.in, got.String(), again, err)
				}
			}
		})
	}
}

// TestParseHidesSecrets checks that no error of Parse repeats the
// password or S3 secret written in a destination.
func TestParseHidesSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		secret string
		want   string // a part of the error
	}{
		{"sftp://root:Hunter2Secret@host/path", "Hunter2Secret", `"sftp://root:***@host/path" holds a password`},
		{"SFTP://root:Hunter2Secret@host:22/path", "Hunter2Secret", "never a password"},
		{"sftp://:Hunter2Secret@host/path", "Hunter2Secret", "never a password"},
		{"sftp://root:Hunter2Secret@host", "Hunter2Secret", "never a password"},
		{"sftp://root:Hunter2Secret@host:99999/path", "Hunter2Secret", "never a password"},
		{"sftp://root:Hun/ter2Secret@host/path", "ter2Secret", `"sftp://root:***@host/path" holds a password`},
		{"sftp://root:Hun#ter2Secret@host/path", "ter2Secret", "never a password"},
		{"sftp://root:Hun%zzter2Secret@host/path", "ter2Secret", "never a password"},
		{"s3://AKIAEXAMPLE:S3UrlSecret@bkt/x", "S3UrlSecret", "credentials go in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a credentials file, never in the URL: write s3://bkt/x"},
		{"s3://AKIAEXAMPLE:S3Url/Secret+x@bkt/x", "Secret+x", "never in the URL"},
		{"s3://AKIAEXAMPLE:S3UrlSecret/bkt/x", "S3UrlSecret", "never in the URL"},
		{"s3://S3UrlSecret@bkt/x", "S3UrlSecret", "never in the URL"},
		{"s3://AKIAEXAMPLE:1234@bkt/x", "1234", "never in the URL"},
		{"ftp://root:Hunter2Secret@host/x", "Hunter2Secret", `"ftp://root:***@host/x": unknown destination scheme "ftp"`},
		{"root:Hunter2Secret@host://x", "Hunter2Secret", "neither a folder nor a URL"},
		{"root:Hunter2Secret@nas:/backup", "Hunter2Secret", `"root:***@nas:/backup" looks like scp's user:password@host:path, which copyd does not take: write sftp://root@nas/backup`},
		{"root:Hunter2Secret@nas:backup", "Hunter2Secret", "write sftp://root@nas/backup"},
		{"root:Hun/ter2Secret@nas:/backup", "ter2Secret", "write sftp://root@nas/backup"},
		{"root:Hun@ter2Secret@nas:/a@b", "ter2Secret", "write sftp://root@nas/a@b"},
		{"root:Hunter2Secret@nas", "Hunter2Secret", "write sftp://user@host/path"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.in, got)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("Parse(%q) error = %q, which shows the secret %q", tt.in, err, tt.secret)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) error = %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}
