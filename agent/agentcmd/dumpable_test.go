package agentcmd

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCloseProcToOtherProcesses: the agent becomes non-dumpable and still
// reads its own /proc/self. That the app then cannot read the agent's token
// through /proc/<pid>/root is shown on the real cluster
// (e2e/cluster TestVaultKubernetesAuth, signal reload).
func TestCloseProcToOtherProcesses(t *testing.T) {
	if err := closeProcToOtherProcesses(); err != nil {
		t.Fatal(err)
	}
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d != 0 {
		t.Errorf("PR_GET_DUMPABLE = %d after the call, want 0", d)
	}
	if _, err := os.ReadFile("/proc/self/status"); err != nil {
		t.Errorf("the agent cannot read its own /proc/self: %v", err)
	}
}
