package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// DefaultStateDir is where the pairs' indexes live when state_dir is not
// set: the folder systemd gives the service ($STATE_DIRECTORY, from
// StateDirectory=copyd: /var/lib/copyd), else the user's state folder
// ($XDG_STATE_HOME/copyd, else ~/.local/state/copyd; on Windows
// %LOCALAPPDATA%\copyd\state).
func DefaultStateDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		first, _, _ := strings.Cut(d, ":") // systemd lists one per StateDirectory= entry
		return first
	}
	if runtime.GOOS == "windows" {
		if d := os.Getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "copyd", "state")
		}
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "copyd")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "copyd")
	}
	return filepath.Join(os.TempDir(), "copyd-state")
}
