package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"unicode"

	"github.com/kardianos/service"

	"github.com/copyd/copyd/config"
)

// The service copyd registers with the OS service manager (kardianos/service).
const (
	serviceName        = "copyd"
	serviceDescription = "Keeps backup folders in step with their sources"
)

// serviceActions are the words copyd service takes, in usage order.
var serviceActions = []string{"install", "uninstall", "start", "stop", "restart", "status", "unit"}

// Exit code of copyd service status when copyd is not running or not
// installed, as systemctl is-active.
const exitNotRunning = 3

// cmdService registers copyd with the OS service manager and controls it:
// copyd service install|uninstall|start|stop|restart|status|unit. Exit 0 on
// success (status: running), 3 when status finds copyd stopped or not
// installed, 2 for usage or config errors, 1 for other failures.
func cmdService(args []string, stdout, stderr io.Writer) int {
	var configFile, user string
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed by usageError, once
	fs.StringVar(&configFile, "c", "", "config file")
	fs.StringVar(&configFile, "config", "", "config file")
	fs.StringVar(&user, "user", "", "run the service as this user")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return usageError(stdout, stderr, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if len(pos) == 0 {
		return usageError(stdout, stderr, errors.New("service needs an action: install, uninstall, start, stop, restart, status or unit"))
	}
	action := pos[0]
	switch {
	case !slices.Contains(serviceActions, action):
		return usageError(stdout, stderr, fmt.Errorf("unknown service action %q; use install, uninstall, start, stop, restart, status or unit", action))
	case len(pos) > 1 && (action == "install" || action == "unit"):
		return usageError(stdout, stderr, fmt.Errorf("service %s takes only -c FILE and --user NAME, not %q", action, strings.Join(pos[1:], " ")))
	case len(pos) > 1:
		return usageError(stdout, stderr, fmt.Errorf("service %s takes no arguments, not %q", action, strings.Join(pos[1:], " ")))
	case action != "install" && action != "unit" && (set["c"] || set["config"] || set["user"]):
		return usageError(stdout, stderr, errors.New("-c and --user apply to service install and unit only; the service keeps the config file it was installed with"))
	case set["user"] && (user == "" || strings.ContainsFunc(user, unicode.IsControl)):
		return usageError(stdout, stderr, fmt.Errorf("--user needs a user name, not %q", user))
	}

	if action == "unit" {
		return serviceUnit(configFile, user, stdout, stderr)
	}
	if action != "status" && !privileged() {
		fmt.Fprintf(stderr, "copyd service %s needs %s\n", action, privilegeHint)
		return exitFailed
	}
	if action == "install" {
		return serviceInstall(configFile, user, stdout, stderr)
	}
	if err := managerProblem(""); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	s, err := service.New(control{}, &service.Config{Name: serviceName})
	if err != nil {
		fmt.Fprintf(stderr, "copyd: no service manager found on this machine (%v); run copyd run -c FILE under your init system\n", err)
		return exitFailed
	}
	state, err := stateOf(s.Status())
	if err != nil {
		fmt.Fprintf(stderr, "copyd: could not ask the service manager about copyd (%v)\n", err)
		return exitFailed
	}
	if action == "status" {
		return serviceStatus(state, stdout, stderr)
	}
	if state == stateNotInstalled {
		fmt.Fprintf(stderr, "copyd is not installed as a service; install it with copyd service install -c FILE\n")
		return exitFailed
	}
	switch action {
	case "start":
		if state == stateRunning {
			fmt.Fprintln(stdout, "copyd is already running; copyd service restart restarts it")
			return exitOK
		}
		return serviceControl(s.Start, "start", "started copyd", stdout, stderr)
	case "stop":
		if state != stateRunning {
			fmt.Fprintln(stdout, "copyd is not running")
			return exitOK
		}
		return serviceControl(s.Stop, "stop", "stopped copyd", stdout, stderr)
	case "restart":
		return serviceControl(s.Restart, "restart", "restarted copyd", stdout, stderr)
	}
	return serviceUninstall(s, state, stdout, stderr)
}

// serviceInstall validates the config and registers copyd run -c ABS with
// the service manager.
func serviceInstall(configFile, user string, stdout, stderr io.Writer) int {
	sc, code := newServiceConfig(configFile, user, false, stderr)
	if sc == nil {
		return code
	}
	cfgPath := sc.Arguments[len(sc.Arguments)-1]
	if err := managerProblem(cfgPath); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	s, err := service.New(control{}, sc)
	if err != nil {
		fmt.Fprintf(stderr, "copyd: no service manager found on this machine (%v); run copyd run -c %s under your init system\n", err, shellQuote(cfgPath))
		return exitFailed
	}
	state, err := stateOf(s.Status())
	if err != nil {
		fmt.Fprintf(stderr, "copyd: could not ask the service manager about copyd (%v)\n", err)
		return exitFailed
	}
	if state != stateNotInstalled {
		fmt.Fprintln(stderr, alreadyInstalled)
		return exitFailed
	}
	_, err = os.Lstat(serviceFile)
	fileExisted := serviceFile == "" || !errors.Is(err, fs.ErrNotExist)
	if err := s.Install(); err != nil {
		// kardianos/service says "Init already exists" (systemd, launchd)
		// or "service copyd already exists" (Windows), in text only.
		if strings.Contains(err.Error(), "already exists") {
			fmt.Fprintln(stderr, alreadyInstalled)
			return exitFailed
		}
		if !fileExisted {
			os.Remove(serviceFile) // systemd: written before "systemctl enable" failed
		}
		fmt.Fprintf(stderr, "copyd: could not install the service (%v)\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "installed %s; it starts at boot and restarts after a failure\n", serviceWhere())
	fmt.Fprintf(stdout, "  runs:  %s\n", commandLine(sc.Executable, sc.Arguments))
	if user != "" {
		fmt.Fprintf(stdout, "  as:    %s\n", user)
	}
	fmt.Fprintln(stdout, "next:   copyd service start")
	if logHint != "" {
		fmt.Fprintf(stdout, "logs:   %s\n", logHint)
	}
	return exitOK
}

const alreadyInstalled = "copyd is already installed as a service; run copyd service uninstall first, or copyd service restart to pick up a new config"

// serviceUnit prints the systemd unit that copyd service install would
// write on Linux.
func serviceUnit(configFile, user string, stdout, stderr io.Writer) int {
	sc, code := newServiceConfig(configFile, user, true, stderr)
	if sc == nil {
		return code
	}
	fmt.Fprint(stdout, sc.Option["SystemdScript"])
	return exitOK
}

// newServiceConfig validates the config file (default config.DefaultPath)
// and the user, and returns the service definition that runs this binary
// on that file. Its systemd unit (Option "SystemdScript") must be valid
// when needUnit is true or on Linux, and is "" otherwise when systemd could
// not run this binary. On failure it prints the problem and returns nil and
// the exit code.
func newServiceConfig(configFile, user string, needUnit bool, stderr io.Writer) (*service.Config, int) {
	if configFile == "" {
		configFile = defaultConfigPath()
	}
	abs, err := filepath.Abs(configFile)
	if err != nil {
		fmt.Fprintf(stderr, "copyd: %s: %v\n", configFile, err)
		return nil, exitUsage
	}
	_, err = config.Load(configFile)
	if err != nil && !onlyMissingSources(err) {
		fmt.Fprintln(stderr, err)
		return nil, exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "note: the service will start anyway; the pairs of missing sources wait for them:\n%v\n", err)
	}
	if user != "" {
		if err := checkUser(user); err != nil {
			fmt.Fprintln(stderr, err)
			return nil, exitUsage
		}
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		fmt.Fprintf(stderr, "copyd: cannot tell where the copyd program file is (%v)\n", err)
		return nil, exitFailed
	}
	args := []string{"run", "-c", abs}
	unit, err := systemdUnit(exe, args, user)
	if err != nil && (needUnit || runtime.GOOS == "linux") {
		fmt.Fprintln(stderr, err)
		return nil, exitFailed
	}
	return &service.Config{
		Name:        serviceName,
		DisplayName: serviceName,
		Description: serviceDescription,
		Executable:  exe,
		Arguments:   args,
		UserName:    user,
		Option: service.KeyValue{
			// A unit without template actions, which kardianos writes as is.
			"SystemdScript": unit,
			// launchd: start at boot and whenever it exits.
			"RunAtLoad": true,
			"KeepAlive": true,
			// Windows: restart after a failure, after the same 5 s as systemd.
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "5s",
		},
	}, exitOK
}

// serviceControl runs a start, stop or restart request.
func serviceControl(do func() error, verb, done string, stdout, stderr io.Writer) int {
	if err := do(); err != nil {
		hint := ""
		if logHint != "" {
			hint = "; its log may say why: " + logHint
		}
		fmt.Fprintf(stderr, "copyd: could not %s the copyd service (%v)%s\n", verb, err, hint)
		return exitFailed
	}
	fmt.Fprintln(stdout, done)
	return exitOK
}

// serviceStatus prints the state: running (exit 0), or stopped, failed or
// not installed (exit 3).
func serviceStatus(state serviceState, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout, state)
	switch state {
	case stateRunning:
		return exitOK
	case stateFailed:
		if logHint != "" {
			fmt.Fprintf(stderr, "copyd stopped with an error; its log says why: %s\n", logHint)
		}
	}
	return exitNotRunning
}

// serviceUninstall stops copyd if it runs, then removes the service.
func serviceUninstall(s service.Service, state serviceState, stdout, stderr io.Writer) int {
	if state == stateRunning {
		// Removing the definition alone would leave the daemon running.
		if code := serviceControl(s.Stop, "stop", "stopped copyd", stdout, stderr); code != exitOK {
			return code
		}
	}
	if serviceFile != "" {
		if _, err := os.Stat(serviceFile); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "copyd's service was not installed by copyd service install (there is no %s); remove it the way it was installed, e.g. with the package manager\n", serviceFile)
			return exitFailed
		}
	}
	if err := s.Uninstall(); err != nil {
		fmt.Fprintf(stderr, "copyd: could not uninstall the service (%v)\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "removed %s; the config file and the backups stay\n", serviceWhere())
	return exitOK
}

// serviceState is what copyd service status reports.
type serviceState string

const (
	stateRunning      serviceState = "running"
	stateStopped      serviceState = "stopped"
	stateFailed       serviceState = "failed" // systemd: stopped with an error
	stateNotInstalled serviceState = "not installed"
)

// stateOf turns the answer of service.Service.Status into a state.
func stateOf(st service.Status, err error) (serviceState, error) {
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return stateNotInstalled, nil
	// kardianos/service reports systemd's "failed" only as this text.
	case err != nil && strings.Contains(err.Error(), "failed state"):
		return stateFailed, nil
	case err != nil:
		return "", err
	case st == service.StatusRunning:
		return stateRunning, nil
	case st == service.StatusStopped:
		return stateStopped, nil
	}
	return "", errors.New("the service manager reports an unknown state")
}

// control is the service.Interface of the commands that only control the
// service; they never run it.
type control struct{}

func (control) Start(service.Service) error { return nil }
func (control) Stop(service.Service) error  { return nil }

// commandLine shows a command as it could be typed into a shell.
func commandLine(exe string, args []string) string {
	words := []string{shellQuote(exe)}
	for _, a := range args {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

// shellQuote returns s as one shell word: bare when it is safe, else in
// single quotes.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("/._-+,:@=%", r)
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// serviceWhere names what install writes: the unit file where copyd knows
// it, else the service.
func serviceWhere() string {
	if serviceFile == "" {
		return "the " + serviceName + " service"
	}
	return serviceFile
}
