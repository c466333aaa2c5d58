//go:build unix && !linux && !darwin

package main

// serviceFile is "": where the definition goes depends on the BSD init
// system kardianos/service finds.
const serviceFile = ""

// logHint is "": copyd logs to stderr, which the init system keeps or not.
const logHint = ""

// managerProblem returns nil: kardianos/service finds the init system.
func managerProblem(configPath string) error { return nil }
