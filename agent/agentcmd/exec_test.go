package agentcmd

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The init container of an env-mode pod copies the agent binary for the
// app's wrapper before anything else, so that the copy exists even when
// the secrets then fail; the flag belongs to the container that runs
// before the app: init mode, or a native sidecar.
func TestInitInstallsTheExecWrapper(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "secret-injector-agent")
	err := agentMain(context.Background(), []string{"--mode", "init", "--install-exec", dst,
		"--config", filepath.Join(dir, "no-such-config.yaml"), "--termination-log", filepath.Join(dir, "termination-log")}, io.Discard)
	if err == nil {
		t.Fatal("init ran without a config")
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatalf("the wrapper was not installed: %v", err)
	}
	if fi.Mode().Perm() != 0o555 {
		t.Errorf("installed with mode %v, want 0555", fi.Mode().Perm())
	}
	if _, err := parseAgentFlags([]string{"--mode", "sidecar", "--install-exec", dst}, io.Discard); err == nil {
		t.Error("--install-exec accepted with a classic sidecar, which starts beside the app")
	}
	// A native sidecar stands in for the init container: its postStart
	// hook holds the app back until it has run.
	if _, err := parseAgentFlags([]string{"--mode", "sidecar", "--native-sidecar", "--install-exec", dst}, io.Discard); err != nil {
		t.Errorf("--install-exec refused on a native sidecar: %v", err)
	}
}
