//go:build unix

package local

import (
	"testing"

	"github.com/copyd/copyd/dest"
	"github.com/copyd/copyd/dest/desttest"
)

func TestConformance(t *testing.T) {
	desttest.Run(t, func(t *testing.T) dest.Destination {
		d, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}, desttest.Options{})
}
