package sync

import (
	"fmt"

	"github.com/copyd/copyd/internal/nofollow"
	"golang.org/x/sys/unix"
)

// fsFlusher returns a function that makes everything written to the
// filesystem holding dir durable (syncfs), and a function that releases it.
func fsFlusher(dir string) (flush func() error, release func(), err error) {
	fd, err := nofollow.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", dir, err)
	}
	flush = func() error {
		if err := unix.Syncfs(fd); err != nil {
			return fmt.Errorf("syncfs %s: %w", dir, err)
		}
		return nil
	}
	return flush, func() { unix.Close(fd) }, nil
}
