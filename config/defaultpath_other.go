//go:build !windows && !darwin

package config

func defaultPath() string { return "/etc/copyd/config.yaml" }
