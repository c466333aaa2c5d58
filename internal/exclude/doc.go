// Package exclude matches a pair's exclude patterns (gitignore syntax)
// against paths relative to its source folder. Excluded paths are neither
// copied nor deleted, by the local engine and the remote one alike.
package exclude
