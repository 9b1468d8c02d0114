package sources

import "syscall"

// limitSelf caps the process's data segment, which holds the Go heap, and
// its CPU time. The limits cannot be raised again once set.
func limitSelf(maxMemory, cpuSeconds int64) error {
	if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: uint64(maxMemory), Max: uint64(maxMemory)}); err != nil {
		return err
	}
	if cpuSeconds > 0 {
		return syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: uint64(cpuSeconds), Max: uint64(cpuSeconds) + 1})
	}
	return nil
}

// childProcAttr kills the child when allot dies.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
