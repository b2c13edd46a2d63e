package agentcmd

import "golang.org/x/sys/unix"

// closeProcToOtherProcesses makes the agent non-dumpable. With signal
// reload the agent shares the app's uid and PID namespace (kill(2) needs
// the same uid), and a dumpable process of the same uid lets the app open
// /proc/<agent>/root, environ and mem — and so read the agent's Vault token
// and memory. A non-dumpable process's /proc entries are owned by root and
// closed to every process without CAP_SYS_PTRACE; the agent still reads its
// own /proc/self.
func closeProcToOtherProcesses() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
