package main

import (
	"fmt"
	"strings"
	"text/template"
	"unicode"
)

// systemdTemplate is the unit copyd service install writes: kardianos/service
// v1.3.0's systemd template (service_systemd_linux.go) with copyd's choices,
// which follow packaging/systemd/copyd.service (read its comments for the
// reasons). Differences from kardianos: Type=notify (copyd sends READY=1),
// restart after 5 s instead of 120 s and not after a config error (exit 2),
// reload by SIGHUP, stderr to the journal instead of files under /var/log,
// no ConditionFileIsExecutable (a missing program must fail loudly, not skip
// the start silently), no StartLimit settings and no EnvironmentFile.
const systemdTemplate = `# copyd: keeps backup folders in step with their sources.
# Written by "copyd service install" (copyd {{.Version}}); "copyd service
# uninstall" removes it. Change a setting with "systemctl edit copyd" (a
# drop-in), not here. Logs: journalctl -u copyd -f

[Unit]
Description={{.Description}}
Documentation=https://github.com/copyd/copyd
# Sources and destinations are often other disks or network shares.
After=local-fs.target remote-fs.target

[Service]
Type=notify
TimeoutStartSec=5min
ExecStart={{.ExecStart}}
{{if .User}}User={{.User}}
{{end}}ExecReload=/bin/kill -HUP $MAINPID
# SIGTERM gives copies in flight 10 s; SIGKILL only after TimeoutStopSec.
KillMode=mixed
TimeoutStopSec=20s
# The pairs' indexes: /var/lib/copyd, the default state_dir ($STATE_DIRECTORY).
StateDirectory=copyd
StateDirectoryMode=0700
Restart=on-failure
RestartSec=5s
# Exit code 2 is a config error: a restart cannot fix it.
RestartPreventExitStatus=2
StandardError=journal
LimitNOFILE=524288

# Hardening that leaves the whole file system readable and writable:
# sources, destinations and archives may be anywhere (so no ProtectSystem=,
# ProtectHome=, PrivateTmp= or PrivateDevices=).
CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID
NoNewPrivileges=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6

[Install]
WantedBy=multi-user.target
`

var systemdUnitTemplate = template.Must(template.New("unit").Parse(systemdTemplate))

// systemdUnit renders the systemd unit that runs exe with args, as user
// when it is not "". The result contains no "{{", so kardianos/service,
// which takes its SystemdScript option for a template of its own, writes it
// unchanged. It fails when systemd cannot run exe: systemd refuses quotes,
// backslashes and control characters in the path of a program.
func systemdUnit(exe string, args []string, user string) (string, error) {
	for _, r := range exe {
		if strings.ContainsRune(`"'\`, r) || unicode.IsControl(r) {
			return "", fmt.Errorf("systemd cannot run a program whose path contains %q (%q); move copyd to a folder such as /usr/local/bin and run it from there", r, exe)
		}
	}
	words := []string{systemdWord(exe, false)}
	for _, a := range args {
		words = append(words, systemdWord(a, true))
	}
	var b strings.Builder
	err := systemdUnitTemplate.Execute(&b, map[string]string{
		"Version":     version(),
		"Description": systemdEscape(serviceDescription),
		"ExecStart":   strings.Join(words, " "),
		"User":        systemdEscape(user),
	})
	if err != nil {
		panic(err) // the template and its data are fixed: a programmer error
	}
	return b.String(), nil
}

// systemdWord quotes s as one word of an ExecStart= command line (see
// systemd.service(5), "Command lines"): bare when that is unambiguous, else
// in double quotes. Inside, % (specifiers) is doubled, and so is $
// (variables) in an argument (variables are not expanded in the program's
// path); quotes, backslashes, braces and control characters become C
// escapes: "{" as \x7b keeps "{{" out of the unit (see [systemdUnit]).
func systemdWord(s string, arg bool) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("/._-+,:@=", r))
	}) < 0 {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '%', r == '$' && arg:
			b.WriteRune(r)
			b.WriteRune(r)
		case r == '"', r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '{', r < 0x20, r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// systemdEscape doubles % in a unit setting's value, where systemd reads
// it as a specifier.
func systemdEscape(s string) string { return strings.ReplaceAll(s, "%", "%%") }
