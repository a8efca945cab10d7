package testcluster

import "syscall"

// procAttr puts a component in its own process group (macOS has no Pdeathsig).
func procAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true}
}
