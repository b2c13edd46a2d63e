package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tradepulse/secret-injector/internal/cli"
)

// fakeInstall puts this binary and an agent binary in a directory, as
// `make build` and the image do, and records what would be executed.
func fakeInstall(t *testing.T, withAgent bool) (dir string, argv *[]string) {
	t.Helper()
	dir = t.TempDir()
	self := filepath.Join(dir, "secret-injector")
	if err := os.WriteFile(self, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if withAgent {
		if err := os.WriteFile(filepath.Join(dir, cli.AgentBinary), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	oldExe, oldExec := executable, execve
	executable = func() (string, error) { return self, nil }
	execve = func(path string, args, env []string) error {
		if path != args[0] {
			t.Errorf("exec %s with argv[0] %s", path, args[0])
		}
		got = args
		return errors.New("not executed in a test")
	}
	t.Cleanup(func() { executable, execve = oldExe, oldExec })
	t.Setenv("PATH", t.TempDir())
	return dir, &got
}

// The agent's commands are handed to secret-injector-agent beside this
// binary, with their arguments unchanged.
func TestAgentCommandsExecTheAgentBinary(t *testing.T) {
	for name := range cli.AgentCommands {
		t.Run(name, func(t *testing.T) {
			dir, argv := fakeInstall(t, true)
			err := program().Commands[name].Run(context.Background(), []string{"--config", "a.yaml", "--mode", "init"})
			want := []string{filepath.Join(dir, cli.AgentBinary), name, "--config", "a.yaml", "--mode", "init"}
			if !slices.Equal(*argv, want) {
				t.Errorf("exec %q, want %q", *argv, want)
			}
			if err == nil || !strings.Contains(err.Error(), "not executed in a test") {
				t.Errorf("err = %v, want the exec's error", err)
			}
		})
	}
}

func TestAgentCommandsWithoutTheAgentBinary(t *testing.T) {
	_, argv := fakeInstall(t, false)
	err := program().Commands["agent"].Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "make build") || *argv != nil {
		t.Fatalf("err = %v, exec %q; want an error naming make build and no exec", err, *argv)
	}
}

// The webhook and operator binary links no cloud or Vault SDK and not the
// agent's commands: they live in secret-injector-agent only, which keeps
// the image small (docs/performance.md).
func TestBinaryLinksNoAgentBackend(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		for _, f := range []string{"github.com/aws/", "cloud.google.com/", "google.golang.org/grpc", "github.com/hashicorp/vault/", "github.com/tradepulse/secret-injector/agent/agentcmd"} {
			if strings.HasPrefix(d, f) {
				t.Errorf("secret-injector links %s: the agent's dependencies belong to secret-injector-agent", d)
			}
		}
	}
}
