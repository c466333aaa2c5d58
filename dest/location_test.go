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
		{in: "s3://bucket/../x", wantErr: "clean path"},
		{in: "s3://bucket/a//b", wantErr: "clean path"},
		{in: "sftp://ann:secret@nas/backup", wantErr: "never a password"},
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
