package bed

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/tradepulse/secret-injector/internal/testkit"
)

// ModuleRoot is the repository's root, from this file's location.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// buildBinary compiles cmd/secret-injector and cmd/secret-injector-agent
// once into dir and returns the first: the webhook runs as this real
// binary, and every agent as the agent binary beside it (agentBinary), as
// in the image.
func buildBinary(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/secret-injector", "./cmd/secret-injector-agent")
	cmd.Dir = ModuleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/secret-injector ./cmd/secret-injector-agent: %w\n%s", err, b)
	}
	return filepath.Join(dir, "secret-injector"), nil
}

// agentBinary is the agent-only binary buildBinary put beside binary: what
// the injected containers run (injector.AgentBinary).
func agentBinary(binary string) string {
	return filepath.Join(filepath.Dir(binary), "secret-injector-agent")
}

// FreePort is the port of a testkit.FreeAddr.
func FreePort() (int, error) {
	a, err := testkit.FreeAddr()
	if err != nil {
		return 0, err
	}
	_, p, _ := net.SplitHostPort(a)
	return strconv.Atoi(p)
}

// BaseEnv is the environment every local process starts from: only what a
// container image would give it (a PATH, a HOME), never the suite's own
// variables such as VAULT_TOKEN.
func BaseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
}
