package main

import (
	"os"

	"golang.org/x/sys/windows"
)

// serviceFile is "": the service control manager keeps the definition.
const serviceFile = ""

// logHint is "": the service control manager keeps no stderr.
const logHint = ""

// privilegeHint completes "copyd service install needs ...".
const privilegeHint = "administrator rights: run it in a terminal opened with Run as administrator"

// privileged reports whether this process runs elevated.
func privileged() bool { return windows.GetCurrentProcessToken().IsElevated() }

// managerProblem returns nil: the service control manager is always there.
func managerProblem(configPath string) error { return nil }

// endUnasked ends a service whose daemon returned without a stop request
// (it failed): the SCM waits for requests only, and a process that ends
// without reporting "stopped" counts as failed, which starts the recovery
// action (restart after 5 s).
func endUnasked(code int) {
	if code == exitOK {
		code = exitFailed
	}
	os.Exit(code)
}

// checkUser returns nil: the service control manager checks the account
// (and its password, which copyd does not take yet) when installing.
func checkUser(name string) error { return nil }
