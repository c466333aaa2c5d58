package main

import (
	"fmt"
	"os"
	"strings"
)

// serviceFile is where copyd service install writes copyd's definition
// ("" when the service manager keeps it elsewhere than in a file).
const serviceFile = "/etc/systemd/system/" + serviceName + ".service"

// logHint is the command that follows the service's log ("" when there is
// none).
const logHint = "journalctl -u " + serviceName + " -f"

// managerProblem returns why copyd cannot be installed or controlled as a
// service here, or nil. copyd writes systemd units only (kardianos/service
// would otherwise fall back to a System V script), and only a running
// systemd loads them. configPath ("" when unknown) goes into the advice.
func managerProblem(configPath string) error {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		return nil // systemd's own test (sd_booted)
	}
	why := "/run/systemd/system does not exist"
	if comm, err := os.ReadFile("/proc/1/comm"); err == nil {
		why = fmt.Sprintf("process 1 is %s", strings.TrimSpace(string(comm)))
	}
	if configPath == "" {
		configPath = "FILE"
	} else {
		configPath = shellQuote(configPath)
	}
	return fmt.Errorf("systemd is not running on this machine (%s); run copyd run -c %s under your init system, or use the unit in packaging/systemd", why, configPath)
}
