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
)

// ModuleRoot is the repository's root, from this file's location.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// buildBinary compiles cmd/secret-injector once into dir: the webhook and
// every agent run as this real binary.
func buildBinary(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "secret-injector")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/secret-injector")
	cmd.Dir = ModuleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/secret-injector: %w\n%s", err, b)
	}
	return out, nil
}

// FreeAddr returns a 127.0.0.1:port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// FreePort is FreeAddr's port.
func FreePort() (int, error) {
	a, err := FreeAddr()
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
