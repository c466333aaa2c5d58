package sync

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stateDir != "" {
		os.RemoveAll(stateDir)
	}
	os.Exit(code)
}
