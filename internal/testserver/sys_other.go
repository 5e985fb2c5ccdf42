//go:build !linux

package testserver

import "syscall"

// sysProcAttr puts the server in its own process group. Outside Linux
// there is no parent-death signal: servers are stopped by test cleanup and
// Main only.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// stoppedState cannot tell outside Linux.
func stoppedState(int) (stopped, ok bool) { return false, false }
