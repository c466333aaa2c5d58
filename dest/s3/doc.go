// Package s3 is the destination backend of a bucket (and a key prefix in
// it) on an S3-compatible object store — AWS S3, MinIO, Ceph, Garage,
// Backblaze B2 and the like — through github.com/minio/minio-go/v7.
//
// How a tree is stored: a file is the object prefix/path; its
// modification time (nanoseconds), mode and, when known, BLAKE3 hash are
// object metadata (x-amz-meta-copyd-mtime, -copyd-mode, -copyd-blake3).
// An object appears only once complete (one PUT up to 64 MiB, multipart
// above it), so a key never holds part of a file; copyd removes its own
// incomplete multipart uploads under the prefix when it starts. Folders
// are implied by the keys below them; an empty folder, and the metadata of
// any folder, is kept as an empty marker object prefix/path/ (what rclone
// calls a directory marker). A symlink is an object whose body is the
// link's text, with x-amz-meta-copyd-type: symlink and the text
// (URL-escaped) in x-amz-meta-copyd-target, so a listing shows it without
// a read; restoring with copyd makes it a symlink again, other tools see
// a small file. Renames are a server-side copy and a delete.
//
// Credentials come from the pair's s3: block, or from the environment
// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or MINIO_ROOT_USER and
// MINIO_ROOT_PASSWORD), or from the AWS shared credentials file; the
// endpoint from the block or AWS_ENDPOINT_URL. They are never logged.
//
// Errors: NoSuchKey and NoSuchBucket are dest.ErrNotExist, refused
// credentials dest.ErrPermission, a full server (MinIO's
// XMinioStorageFull, a quota) dest.ErrFull, network failures, timeouts,
// 5xx and SlowDown dest.Transient.
package s3
