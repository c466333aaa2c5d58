package config

import (
	"fmt"
	"path/filepath"
	"runtime"
)

// defaultWorkers is max(4, 2×CPUs): copies mostly wait for disks, not CPUs.
func defaultWorkers() int { return max(4, 2*runtime.NumCPU()) }

// applyDefaults fills in every setting whose key is not in set (the keys
// the file gave a valid value). It runs after paths are made absolute,
// because a pair's default name is its source folder's base name.
func applyDefaults(c *Config, set map[string]bool) {
	if !set["workers"] {
		c.Workers = defaultWorkers()
	}
	if !set["settle"] {
		c.Settle = DefaultSettle
	}
	if !set["max_delay"] {
		c.MaxDelay = DefaultMaxDelay
	}
	if !set["rescan"] {
		c.Rescan = DefaultRescan
	}
	if !set["state_dir"] {
		c.StateDir = DefaultStateDir()
	}
	if !set["log.level"] {
		c.Log.Level = "info"
	}
	if !set["log.format"] {
		c.Log.Format = "text"
	}
	if !set["status.listen"] {
		c.Status.Listen = DefaultListen
	}
	for i := range c.Pairs {
		p := &c.Pairs[i]
		key := fmt.Sprintf("pairs[%d].", i)
		if !set[key+"name"] && p.Source != "" {
			p.Name = filepath.Base(p.Source)
		}
		if !set[key+"fsync"] {
			p.Fsync = true
		}
		// delete, checksum (false) and archive ("": none) default to their zero values.
	}
}
