//go:build unix

package main

import (
	"fmt"
	"os"
	"os/user"
)

// privilegeHint completes "copyd service install needs ...".
const privilegeHint = "root: run it with sudo"

// privileged reports whether this process may install and control system
// services.
func privileged() bool { return os.Geteuid() == 0 }

// endUnasked does nothing: on Unix, kardianos/service's RunWait returns
// when the daemon function did, and the process ends with its exit code.
func endUnasked(code int) {}

// checkUser returns an error when name is neither a user nor a user ID on
// this machine: the service would fail at every start.
func checkUser(name string) error {
	if _, err := user.Lookup(name); err == nil {
		return nil
	}
	if _, err := user.LookupId(name); err == nil {
		return nil
	}
	return fmt.Errorf("there is no user %q on this machine; create it first (for example: useradd --system %s) or leave out --user", name, name)
}
