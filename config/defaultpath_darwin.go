package config

func defaultPath() string { return "/Library/Application Support/copyd/config.yaml" }
