// Package remotebench measures copyd against rclone and rsync on remote
// destinations: a real MinIO and a real sshd on 127.0.0.1, started by the
// benchmark itself (internal/testserver). It is one command, built only
// with its tag so that the test suite never runs it:
//
//	go test -tags remotebench ./bench/remotebench -run Remote -v -timeout 120m
//
// See bench/README.md ("Remote destinations") for what it measures and
// the environment it reads.
package remotebench
