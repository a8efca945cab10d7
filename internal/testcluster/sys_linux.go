package testcluster

import "syscall"

// procAttr puts a component in its own process group; an attached component
// also dies with the test binary, even when it panics or is killed.
func procAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
