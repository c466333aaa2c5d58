package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/copyd/copyd/dest"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config says which bucket to write to and how to reach it.
type Config struct {
	Bucket string
	Prefix string // the key prefix, without slashes at either end
	// Endpoint is host[:port] or an http(s):// URL; "" is AWS_ENDPOINT_URL,
	// else s3.amazonaws.com.
	Endpoint  string
	Region    string
	PathStyle bool // bucket in the path, not the host name (MinIO, most self-hosted stores)
	// AccessKey and SecretKey, when set, are the credentials; else the
	// environment and the AWS shared credentials file are asked.
	AccessKey, SecretKey, SessionToken string
	// CredentialsFile is an AWS shared credentials file ("" for the default).
	CredentialsFile string
	Connections     int // operations at once; 0 is 16
}

// S3 is a key prefix in a bucket.
type S3 struct {
	c      *minio.Client
	cfg    Config
	name   string
	prefix string // cfg.Prefix + "/", or "" for the whole bucket
}

var _ interface {
	dest.Destination
	dest.Copier
	dest.Aborter
} = (*S3)(nil)

// multipartAbove is the size past which a file is uploaded in parts.
const multipartAbove = 64 << 20

// New connects to the store, checks that the bucket exists and that the
// credentials are taken, and removes copyd's incomplete uploads under the
// prefix.
func New(ctx context.Context, cfg Config) (*S3, error) {
	if cfg.Connections == 0 {
		cfg.Connections = 16
	}
	endpoint, secure, err := endpointOf(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	s := &S3{cfg: cfg, name: "s3://" + cfg.Bucket + "/" + cfg.Prefix}
	if cfg.Prefix != "" {
		s.prefix = cfg.Prefix + "/"
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	s.c, err = minio.New(endpoint, &minio.Options{
		Creds: credsOf(cfg), Secure: secure, Region: cfg.Region, BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	ok, err := s.c.BucketExists(ctx, cfg.Bucket)
	switch {
	case err != nil:
		err = mapErr(err)
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%s at %s: the credentials were refused (%w): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in copyd's environment, or the credentials file", s.name, endpoint, err)
		}
		if dest.IsTransient(err) {
			return nil, fmt.Errorf("%s: cannot reach %s (%w): check the endpoint and that the server is running", s.name, endpoint, err)
		}
		return nil, fmt.Errorf("%s at %s: %w", s.name, endpoint, err)
	case !ok:
		return nil, fmt.Errorf("%s: the bucket %q does not exist at %s: create it first (mc mb, aws s3 mb): %w", s.name, cfg.Bucket, endpoint, fs.ErrNotExist)
	}
	s.cleanIncomplete(ctx)
	return s, nil
}

func endpointOf(e string) (host string, secure bool, err error) {
	if e == "" {
		e = os.Getenv("AWS_ENDPOINT_URL")
	}
	if e == "" {
		return "s3.amazonaws.com", true, nil
	}
	if !strings.Contains(e, "://") {
		return e, true, nil
	}
	u, err := url.Parse(e)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
		return "", false, fmt.Errorf("endpoint %q: want host[:port] or http(s)://host[:port]", e)
	}
	return u.Host, u.Scheme == "https", nil
}

func credsOf(cfg Config) *credentials.Credentials {
	if cfg.AccessKey != "" {
		return credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	}
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.EnvMinio{},
		&credentials.FileAWSCredentials{Filename: cfg.CredentialsFile},
	})
}

// cleanIncomplete aborts the multipart uploads a crash left under the
// prefix: they are copyd's (nothing else writes there) and cost storage.
func (s *S3) cleanIncomplete(ctx context.Context) {
	for up := range s.c.ListIncompleteUploads(ctx, s.cfg.Bucket, s.prefix, true) {
		if up.Err != nil {
			return
		}
		_ = s.c.RemoveIncompleteUpload(ctx, s.cfg.Bucket, up.Key)
	}
}

func (s *S3) String() string { return s.name }

// Features: implied folders, symlinks as objects, modes and nanosecond
// times in metadata.
func (s *S3) Features() dest.Features {
	return dest.Features{Modes: true, MtimePrecision: time.Nanosecond, Connections: s.cfg.Connections}
}

// Close does nothing: HTTP connections are pooled and time out.
func (s *S3) Close() error { return nil }

func (s *S3) key(rel string) (string, error) {
	if rel == "" {
		return strings.TrimSuffix(s.prefix, "/"), nil
	}
	if err := dest.CheckRel(rel); err != nil {
		return "", err
	}
	return s.prefix + rel, nil
}

// Metadata keys (x-amz-meta- is added by the client).
const (
	metaMtime  = "Copyd-Mtime"
	metaMode   = "Copyd-Mode"
	metaHash   = "Copyd-Blake3"
	metaType   = "Copyd-Type"
	metaTarget = "Copyd-Target"
)

func userMeta(m dest.Meta) map[string]string {
	um := map[string]string{metaMode: strconv.FormatUint(uint64(dest.ModeBits(m.Mode)), 8)}
	if !m.ModTime.IsZero() {
		um[metaMtime] = fmt.Sprintf("%d.%09d", m.ModTime.Unix(), m.ModTime.Nanosecond())
	}
	if m.Hash != "" {
		um[metaHash] = m.Hash
	}
	return um
}

// lookup returns the metadata value of key, whatever its case.
func lookup(m map[string]string, key string) (string, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) || strings.EqualFold(k, "X-Amz-Meta-"+key) {
			return v, true
		}
	}
	return "", false
}

// entryOf describes an object; its metadata gives the time, mode and kind.
func entryOf(name string, size int64, lastModified time.Time, um map[string]string) dest.Entry {
	e := dest.Entry{Name: name, Kind: dest.File, Size: size, ModTime: lastModified, Mode: 0o644, UID: -1, GID: -1}
	if v, ok := lookup(um, metaMtime); ok {
		sec, nsec, _ := strings.Cut(v, ".")
		s, err1 := strconv.ParseInt(sec, 10, 64)
		n, err2 := strconv.ParseInt(nsec, 10, 64)
		if err1 == nil && (err2 == nil || nsec == "") {
			e.ModTime = time.Unix(s, n)
		}
	}
	if v, ok := lookup(um, metaMode); ok {
		if b, err := strconv.ParseUint(v, 8, 32); err == nil {
			e.Mode = dest.FileMode(uint32(b))
		}
	}
	if v, ok := lookup(um, metaHash); ok {
		e.Hash = v
	}
	if v, _ := lookup(um, metaType); v == "symlink" {
		e.Kind, e.Size = dest.Symlink, 0
		if t, ok := lookup(um, metaTarget); ok {
			e.Target, _ = url.PathUnescape(t)
		}
	}
	return e
}

func (s *S3) Stat(ctx context.Context, rel string) (dest.Entry, error) {
	key, err := s.key(rel)
	if err != nil {
		return dest.Entry{}, err
	}
	name := path.Base("/" + rel)
	if rel == "" {
		return dest.Entry{Kind: dest.Dir, Mode: fs.ModeDir | 0o755, UID: -1, GID: -1}, nil
	}
	info, err := s.c.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return entryOf(name, info.Size, info.LastModified, info.UserMetadata), nil
	}
	if err = mapErr(err); !errors.Is(err, fs.ErrNotExist) {
		return dest.Entry{}, err
	}
	// A folder: its marker, or keys below it.
	if info, err := s.c.StatObject(ctx, s.cfg.Bucket, key+"/", minio.StatObjectOptions{}); err == nil {
		e := entryOf(name, 0, info.LastModified, info.UserMetadata)
		e.Kind, e.Mode = dest.Dir, e.Mode|fs.ModeDir
		return e, nil
	}
	has, err := s.hasBelow(ctx, key+"/")
	if err != nil {
		return dest.Entry{}, err
	}
	if !has {
		return dest.Entry{}, fmt.Errorf("stat %s: %w", rel, fs.ErrNotExist)
	}
	return dest.Entry{Name: name, Kind: dest.Dir, Mode: fs.ModeDir | 0o755, UID: -1, GID: -1}, nil
}

// hasBelow reports whether any key starts with p (other than p itself).
func (s *S3) hasBelow(ctx context.Context, p string) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.c.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: p, Recursive: true, MaxKeys: 2}) {
		if obj.Err != nil {
			return false, mapErr(obj.Err)
		}
		if obj.Key != p {
			return true, nil
		}
	}
	return false, nil
}

func (s *S3) List(ctx context.Context, rel string) ([]dest.Entry, error) {
	key, err := s.key(rel)
	if err != nil {
		return nil, err
	}
	p := key + "/"
	if key == "" {
		p = ""
	}
	var out []dest.Entry
	found := rel == "" // the root exists with the bucket
	for obj := range s.c.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: p, WithMetadata: true}) {
		if obj.Err != nil {
			return nil, mapErr(obj.Err)
		}
		found = true
		name := strings.TrimPrefix(obj.Key, p)
		switch {
		case name == "":
			continue // the folder's own marker
		case strings.HasSuffix(name, "/"): // a folder below
			out = append(out, dest.Entry{Name: strings.TrimSuffix(name, "/"), Kind: dest.Dir, Mode: fs.ModeDir | 0o755, UID: -1, GID: -1})
			continue
		}
		um := obj.UserMetadataStripped
		if um == nil {
			// Stores other than MinIO list no metadata: ask for it.
			info, err := s.c.StatObject(ctx, s.cfg.Bucket, obj.Key, minio.StatObjectOptions{})
			if err != nil {
				if errors.Is(mapErr(err), fs.ErrNotExist) {
					continue
				}
				return nil, mapErr(err)
			}
			um = info.UserMetadata
		}
		out = append(out, entryOf(name, obj.Size, obj.LastModified, um))
	}
	if !found {
		return nil, fmt.Errorf("list %s: %w", rel, fs.ErrNotExist)
	}
	return out, nil
}

func (s *S3) Open(ctx context.Context, rel string) (io.ReadCloser, error) {
	key, err := s.key(rel)
	if err != nil {
		return nil, err
	}
	obj, err := s.c.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, mapErr(err)
	}
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, mapErr(err)
	}
	if v, _ := lookup(info.UserMetadata, metaType); v == "symlink" {
		obj.Close()
		return nil, fmt.Errorf("open %s: a symlink, not a file: %w", rel, fs.ErrInvalid)
	}
	return obj, nil
}

// Put uploads an object; it is visible only once complete.
func (s *S3) Put(ctx context.Context, rel string, r io.Reader, size int64, m dest.Meta) error {
	key, err := s.key(rel)
	if err != nil {
		return err
	}
	if rel == "" {
		return fmt.Errorf("put: the root is a folder: %w", fs.ErrInvalid)
	}
	_, err = s.c.PutObject(ctx, s.cfg.Bucket, key, dest.Exact(ctx, r, size), size, minio.PutObjectOptions{
		UserMetadata:     userMeta(m),
		PartSize:         multipartAbove,
		DisableMultipart: size <= multipartAbove,
		ContentType:      "application/octet-stream",
	})
	if err != nil {
		if errors.Is(err, dest.ErrShortSource) {
			return fmt.Errorf("put %s: %w", rel, dest.ErrShortSource)
		}
		return mapErr(err)
	}
	return nil
}

// Mkdir puts the folder's marker object, which keeps it (empty or not)
// and its metadata.
func (s *S3) Mkdir(ctx context.Context, rel string, m dest.Meta) error {
	if rel == "" {
		return nil
	}
	key, err := s.key(rel)
	if err != nil {
		return err
	}
	_, err = s.c.PutObject(ctx, s.cfg.Bucket, key+"/", strings.NewReader(""), 0, minio.PutObjectOptions{UserMetadata: userMeta(m), DisableMultipart: true})
	return mapErr(err)
}

// Symlink stores the link as an object holding its text (see the package
// doc).
func (s *S3) Symlink(ctx context.Context, rel, target string, m dest.Meta) error {
	key, err := s.key(rel)
	if err != nil {
		return err
	}
	um := userMeta(m)
	um[metaType] = "symlink"
	um[metaTarget] = url.PathEscape(target)
	_, err = s.c.PutObject(ctx, s.cfg.Bucket, key, strings.NewReader(target), int64(len(target)), minio.PutObjectOptions{UserMetadata: um, DisableMultipart: true})
	return mapErr(err)
}

// SetMeta replaces the object's metadata with a server-side copy onto
// itself (a folder's: its marker's, made if missing).
func (s *S3) SetMeta(ctx context.Context, rel string, m dest.Meta) error {
	e, err := s.Stat(ctx, rel)
	if err != nil {
		return err
	}
	key, _ := s.key(rel)
	if e.Kind == dest.Dir {
		return s.Mkdir(ctx, rel, m)
	}
	um := userMeta(m)
	if e.Kind == dest.Symlink {
		um[metaType] = "symlink"
		um[metaTarget] = url.PathEscape(e.Target)
	}
	if m.Hash == "" && e.Hash != "" {
		um[metaHash] = e.Hash
	}
	_, err = s.c.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.cfg.Bucket, Object: key, UserMetadata: um, ReplaceMetadata: true},
		minio.CopySrcOptions{Bucket: s.cfg.Bucket, Object: key})
	return mapErr(err)
}

func (s *S3) Remove(ctx context.Context, rel string) error {
	if rel == "" {
		return fmt.Errorf("remove: the root is not removed: %w", fs.ErrInvalid)
	}
	e, err := s.Stat(ctx, rel)
	if err != nil {
		return err
	}
	key, _ := s.key(rel)
	if e.Kind == dest.Dir {
		has, err := s.hasBelow(ctx, key+"/")
		if err != nil {
			return err
		}
		if has {
			return fmt.Errorf("remove %s: %w", rel, dest.ErrNotEmpty)
		}
		key += "/"
	}
	return mapErr(s.c.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{}))
}

// AbortIncomplete removes the parts of the incomplete uploads of rel.
func (s *S3) AbortIncomplete(ctx context.Context, rel string) error {
	k, err := s.key(rel)
	if err != nil {
		return err
	}
	return mapErr(s.c.RemoveIncompleteUpload(ctx, s.cfg.Bucket, k))
}

// Copy copies the object from to to on the server, with its metadata.
func (s *S3) Copy(ctx context.Context, from, to string) error {
	kf, err := s.key(from)
	if err != nil {
		return err
	}
	kt, err := s.key(to)
	if err != nil {
		return err
	}
	_, err = s.c.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.cfg.Bucket, Object: kt}, minio.CopySrcOptions{Bucket: s.cfg.Bucket, Object: kf})
	return mapErr(err)
}

// mapErr translates S3 error codes into the dest sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	if strings.Contains(resp.Message, "no space left on device") || strings.Contains(resp.Message, "minimum free drive threshold") {
		return fmt.Errorf("%w: %w", dest.ErrFull, err) // MinIO reports a full disk as InternalError
	}
	switch resp.Code {
	case "NoSuchBucket":
		// Not a missing name: the whole destination is gone (deleted on
		// the server). The pair pauses and reconnects, which says so and
		// waits until the bucket is back; never ErrNotExist, which the
		// engine takes for "nothing to delete here".
		return dest.Transient(fmt.Errorf("the bucket is gone: %w", err))
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("%w: %w", fs.ErrPermission, err)
	case "XMinioStorageFull", "QuotaExceeded", "XMinioAdminBucketQuotaExceeded":
		return fmt.Errorf("%w: %w", dest.ErrFull, err)
	case "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "XMinioServerNotInitialized":
		return dest.Transient(err)
	}
	if resp.StatusCode >= 500 {
		return dest.Transient(err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "connection reset") {
		return dest.Transient(err)
	}
	return err
}
