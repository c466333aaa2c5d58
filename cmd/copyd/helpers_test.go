//go:build unix

package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/copyd/copyd/internal/treetest"
)

func writeTree(t *testing.T, dir string, tree map[string]string) { treetest.WriteTree(t, dir, tree) }
func assertTreesEqual(t *testing.T, src, dst string)             { treetest.AssertTreesEqual(t, src, dst) }
func assertNoTemps(t *testing.T, dir string)                     { treetest.AssertNoTemps(t, dir) }
func waitFor(t *testing.T, d time.Duration, cond func() error)   { treetest.WaitFor(t, d, cond) }
func worldDir(t *testing.T) string                               { return treetest.WorldDir(t) }
func nobody(t *testing.T) *syscall.Credential                    { return treetest.Nobody(t) }

// mkWorldWritable hands the tree under base to the unprivileged user,
// except files a test made unreadable on purpose (mode 000).
func mkWorldWritable(t *testing.T, base string) {
	t.Helper()
	treetest.ChownTree(t, base, &syscall.Credential{Uid: 65534, Gid: 65534})
}
