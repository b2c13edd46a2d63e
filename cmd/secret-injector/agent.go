package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/tradepulse/secret-injector/internal/cli"
)

// Seams for tests: where this binary is, and the exec that replaces it.
var (
	executable = os.Executable
	execve     = syscall.Exec
)

// agentCommand runs one of the agent's commands by executing
// secret-injector-agent in this process's place, with the same arguments
// and environment: signals, exit code and output are the agent's own.
func agentCommand(name string) func(ctx context.Context, args []string) error {
	return func(_ context.Context, args []string) error {
		bin, err := agentBinary()
		if err != nil {
			return err
		}
		argv := append([]string{bin, name}, args...)
		return fmt.Errorf("exec %s: %w", bin, execve(bin, argv, os.Environ()))
	}
}

// agentBinary finds secret-injector-agent beside this binary (make build,
// the image), else on PATH.
func agentBinary() (string, error) {
	self, err := executable()
	if err == nil {
		if self, err = filepath.EvalSymlinks(self); err == nil {
			p := filepath.Join(filepath.Dir(self), cli.AgentBinary)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
				return p, nil
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return "", err
			}
		}
	}
	if p, err := exec.LookPath(cli.AgentBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the agent's commands are in %s, which is neither beside this binary nor on PATH: `make build` builds both into bin/", cli.AgentBinary)
}
