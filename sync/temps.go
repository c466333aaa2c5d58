package sync

import (
	"path/filepath"
	"sync"

	"github.com/copyd/copyd/internal/tempname"
)

// inFlight holds the names of the temp files copyd is writing or about to
// rename right now, in this process: a scan that lists a destination
// folder removes the temp files it finds there as stale, except these.
// So a temp file left by a crash, or orphaned when its folder was moved
// while its copy ran (the rename then fails under the old path), is
// removed by the next scan of its folder, while a copy in flight is not
// made to fail and start over. Names are unique (16 random hex digits),
// so the base name is the key, wherever the folder has moved.
var inFlight = struct {
	sync.Mutex
	names map[string]struct{}
}{names: make(map[string]struct{})}

// newTemp returns the path of a fresh temp file beside dst and counts it
// in flight until tempOver.
func newTemp(dst string) string {
	p := tempname.Beside(dst)
	holdTemp(p)
	return p
}

// holdTemp counts the temp file path in flight.
func holdTemp(path string) {
	inFlight.Lock()
	inFlight.names[filepath.Base(path)] = struct{}{}
	inFlight.Unlock()
}

// tempOver ends the flight of the temp file path: renamed, removed, or
// lost.
func tempOver(path string) {
	inFlight.Lock()
	delete(inFlight.names, filepath.Base(path))
	inFlight.Unlock()
}

// tempInFlight reports whether the temp file named name is being worked
// on.
func tempInFlight(name string) bool {
	inFlight.Lock()
	defer inFlight.Unlock()
	_, ok := inFlight.names[name]
	return ok
}
