//go:build !linux

package redistest

import "syscall"

// dieWithParent has no portable form: elsewhere Close alone stops servers.
func dieWithParent() *syscall.SysProcAttr { return nil }
