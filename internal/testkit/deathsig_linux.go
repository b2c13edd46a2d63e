package testkit

import "syscall"

// dieWithParent asks the kernel to SIGKILL the child when the thread that
// started it ends; Go ends threads only when a goroutine locked to one
// exits, which nothing here does, so in practice when the process dies.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
