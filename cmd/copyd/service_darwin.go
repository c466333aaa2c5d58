package main

// serviceFile is where copyd service install writes copyd's definition
// (kardianos/service's launchd plist for a system daemon).
const serviceFile = "/Library/LaunchDaemons/" + serviceName + ".plist"

// logHint is the command that follows the service's log: kardianos/service
// points launchd's StandardErrorPath there.
const logHint = "tail -f /var/log/" + serviceName + ".err.log"

// managerProblem returns nil: launchd is always there.
func managerProblem(configPath string) error { return nil }
