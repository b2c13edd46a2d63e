//go:build !linux

package testkit

import "syscall"

// dieWithParent has no equivalent outside Linux: Stop is the only cleanup.
func dieWithParent(*syscall.SysProcAttr) {}
