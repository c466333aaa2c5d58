//go:build !linux

package sync

import "errors"

// fsFlusher is not available here: copies are fsynced one by one.
func fsFlusher(string) (flush func() error, release func(), err error) {
	return nil, nil, errors.ErrUnsupported
}
