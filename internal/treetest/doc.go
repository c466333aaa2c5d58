// Package treetest holds the test helpers that copyd's packages share:
// building folder trees from a map, comparing two trees (content, mode,
// mtime, symlink targets, never following links), asserting that no
// copyd temp file is left, polling with a deadline instead of sleeping,
// and running a command as an unprivileged user. It is for tests only.
package treetest
