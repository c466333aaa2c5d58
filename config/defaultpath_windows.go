package config

import (
	"os"
	"path/filepath"
)

func defaultPath() string {
	base := os.Getenv("ProgramData")
	if base == "" {
		base = `C:\ProgramData`
	}
	return filepath.Join(base, "copyd", "config.yaml")
}
