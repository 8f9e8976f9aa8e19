package redistest

import "syscall"

// dieWithParent kills a server when the process that started it dies, so a
// test binary killed by its timeout leaves no server behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
