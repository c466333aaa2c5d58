// Package testserver starts real servers on 127.0.0.1 for tests: OpenSSH's
// sshd (SFTP) with a generated host key and client key, and MinIO (S3).
// Each server belongs to the test that starts it and is stopped by its
// cleanup; tests can kill and restart it to play a server going away.
//
// Where the server's program is missing, a test fails under CI (CI=true:
// .ci/run installs them) and is skipped elsewhere, saying what to install.
package testserver
