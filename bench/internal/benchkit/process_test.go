package benchkit

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A measured process's file is waited for, and its output kept for the
// error report when it exits without writing.
func TestProcWaitFiles(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	p, err := StartProc(dir, nil, "/bin/sh", "-c", "echo hi > out; exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitFiles(ctx, []string{filepath.Join(dir, "out")}); err != nil {
		t.Fatalf("WaitFiles: %v", err)
	}
	p.Stop(5 * time.Second)
	if !p.Exited() {
		t.Error("still running after Stop")
	}

	p, err = StartProc(dir, nil, "/bin/sh", "-c", "echo no file here; exit 1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.WaitFiles(ctx, []string{filepath.Join(dir, "never")})
	if err == nil || !strings.Contains(err.Error(), "before writing never") || !strings.Contains(err.Error(), "no file here") {
		t.Errorf("WaitFiles = %v, want the exit named with the process's output", err)
	}
	if err := p.Wait(time.Second); err == nil {
		t.Error("Wait: want the exit error of a process that exits 1")
	}
}
