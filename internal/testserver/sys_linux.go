package testserver

import "syscall"

// sysProcAttr makes the kernel kill the server when the test binary dies,
// so no server outlives a crashed or killed test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
