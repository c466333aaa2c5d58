// Package treetest holds the test helpers that copyd's packages share:
// building folder trees from a map, comparing two trees (content, mode,
// mtime, symlink targets, never following links) either as an assertion or
// as an error to poll for while a daemon is still copying, finding copyd
// temp files, polling with a deadline instead of sleeping, and running a
// command as an unprivileged user. It is for tests only.
package treetest
