//go:build unix && !linux

package main

// systemOps are the Linux-only operations of the workload: none here.
func (c *churner) systemOps(files, dirs int) []churnOp { return nil }
