// Package tempname names copyd's temp files, .<name>.copyd-<16 hex>.tmp,
// and recognises them: the engine writes them, and the engine's scans and
// the watcher skip them. One place for the pattern, so the writer and the
// readers cannot drift apart.
package tempname
