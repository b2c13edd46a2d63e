package main

import (
	"os"
	"slices"
	"testing"
	"time"
)

// An exited child is reaped: wait4 returns it and no zombie is left.
func TestReap(t *testing.T) {
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Skipf("no /bin/true: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(reap(), p.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d not reaped", p.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := reap(); len(got) != 0 {
		t.Errorf("reap with no exited child returned %v", got)
	}
}
