package testkit

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestProcessOutputAndExitCode(t *testing.T) {
	p, err := Start("sh", exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err == nil {
		t.Fatal("Wait: want the exit error of a process that exits 3")
	}
	if got := p.ExitCode(); got != 3 {
		t.Errorf("ExitCode = %d, want 3", got)
	}
	if out := p.Output(); !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
		t.Errorf("Output = %q, want both stdout and stderr", out)
	}
}

func TestStopGroupReachesChildren(t *testing.T) {
	// The shell's child sleeps; stopping the group must end both, or the
	// wait for the shell's output pipe would hang.
	p, err := StartGroup("sh", "/bin/sh", []string{"-c", "sleep 60 & wait"}, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p.Stop(5 * time.Second)
	if ok, _ := p.Exited(); !ok {
		t.Fatal("process still running after Stop")
	}
	if got := p.ExitCode(); got != -1 {
		t.Errorf("ExitCode after a signal = %d, want -1", got)
	}
	p.Stop(time.Second) // a second Stop is a no-op
}

func TestBufferLimit(t *testing.T) {
	b := &Buffer{Limit: 4}
	for range 3 {
		if n, err := b.Write([]byte("abc")); n != 3 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := b.String(); got != "abcabc" {
		t.Errorf("String = %q, want writes dropped once past the limit", got)
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if err := Poll(context.Background(), 10*time.Second, func() (bool, error) { n++; return n == 3, nil }); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	boom := errors.New("boom")
	if err := Poll(context.Background(), 10*time.Second, func() (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("Poll = %v, want cond's error", err)
	}
	err := Poll(context.Background(), 300*time.Millisecond, func() (bool, error) { return false, nil })
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Errorf("Poll = %v, want a timeout naming the duration", err)
	}
}

func TestReadVaultBed(t *testing.T) {
	for _, k := range []string{"VAULT_ADDR", "VAULT_TOKEN", "SI_VAULT_BIN", "SI_VAULT_DB_MOUNT", "SI_VAULT_DB_CONNECTION",
		"SI_PG_HOST", "SI_PG_PORT", "SI_PG_USER", "SI_PG_PASSWORD", "SI_PG_DATABASE", "SI_PSQL"} {
		t.Setenv(k, "x-"+k)
	}
	t.Setenv("SI_PSQL", "")
	t.Setenv("VAULT_TOKEN", "")
	b, missing := ReadVaultBed()
	if strings.Join(missing, ",") != "SI_PSQL,VAULT_TOKEN" {
		t.Errorf("missing = %v, want [SI_PSQL VAULT_TOKEN]", missing)
	}
	if b.Addr != "x-VAULT_ADDR" || b.DBConnection != "x-SI_VAULT_DB_CONNECTION" || b.PGDatabase != "x-SI_PG_DATABASE" {
		t.Errorf("ReadVaultBed = %+v, fields not read from their variables", b)
	}
}

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, 10*time.Second, "third call", func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n != 3 {
		t.Errorf("f called %d times, want 3", n)
	}
}
