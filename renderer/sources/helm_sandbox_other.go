//go:build !linux

package sources

import "syscall"

// limitSelf has no hard limits off Linux; the Go memory limit set by the
// caller and the parent's deadline remain.
func limitSelf(maxMemory, cpuSeconds int64) error { return nil }

func childProcAttr() *syscall.SysProcAttr { return nil }
