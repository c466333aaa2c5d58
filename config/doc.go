// Package config loads and validates copyd's YAML configuration and builds
// the equivalent configuration for the command-line form `copyd run SRC DST`.
// A *Config returned without an error is ready to use: every path in it is
// absolute and clean (sources with their symbolic links resolved), every
// setting the file left out has its default, and the checks that protect a
// backup have passed: each source exists and is a folder, no destination
// lies inside its own source or another pair's destination, and every
// destination can be written or created. When a configuration is refused,
// the error reports every problem at once, joined with errors.Join; each is
// a *Problem that names the file, line and key and says in one sentence what
// to do, and wraps one of the package's sentinel errors for errors.Is. The
// package starts no goroutines and keeps no state; its functions are safe
// for concurrent use.
package config
