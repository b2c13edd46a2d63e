package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

type starter = func(dir string) (*benchkit.Proc, []string, error)

// oursStart returns a starter for our agent in sidecar mode on backend,
// with secrets named names referring to tradepulse/bench/<name>.
func oursStart(bin string, names []string, interval time.Duration, b config.Backend, env []string) starter {
	return func(dir string) (*benchkit.Proc, []string, error) {
		out := filepath.Join(dir, "out")
		c := config.Config{Version: config.APIVersion, Backend: b, MountPath: out, RefreshInterval: config.Duration(interval),
			AdminAddr: benchkit.FreeAddr(), MetricsAddr: benchkit.FreeAddr()}
		var files []string
		for _, name := range names {
			c.Secrets = append(c.Secrets, config.Secret{Name: name, Ref: "tradepulse/bench/" + name})
			files = append(files, filepath.Join(out, name))
		}
		raw, err := json.Marshal(c)
		if err != nil {
			return nil, nil, err
		}
		cfg := filepath.Join(dir, "agent.json")
		if err := os.WriteFile(cfg, raw, 0o600); err != nil {
			return nil, nil, err
		}
		p, err := benchkit.StartProc(dir, env, bin, "agent", "--mode", "sidecar", "--config", cfg)
		return p, files, err
	}
}

// oursVaultStart returns a starter for our agent rendering fx's secrets
// from the Vault at addr, as vaultbench configures it.
func oursVaultStart(bin, addr string, fx *benchkit.Fixture, interval time.Duration) starter {
	return func(dir string) (*benchkit.Proc, []string, error) {
		out := filepath.Join(dir, "out")
		cfg, err := fx.AgentConfig(dir, out, addr, interval)
		if err != nil {
			return nil, nil, err
		}
		p, err := benchkit.StartProc(dir, nil, bin, "agent", "--mode", "sidecar", "--config", cfg)
		return p, benchkit.Paths(out, fx.FileNames()), err
	}
}

// theirStart returns a starter for vault agent rendering fx's secrets and
// re-reading them every interval.
func theirStart(vaultBin, addr string, fx *benchkit.Fixture, interval time.Duration) starter {
	return func(dir string) (*benchkit.Proc, []string, error) {
		out := filepath.Join(dir, "out")
		if err := os.MkdirAll(out, 0o700); err != nil {
			return nil, nil, err
		}
		cfg, err := fx.VaultAgentConfig(dir, out, addr, interval)
		if err != nil {
			return nil, nil, err
		}
		p, err := benchkit.StartProc(dir, nil, vaultBin, "agent", "-config="+cfg, "-log-level=warn")
		return p, benchkit.Paths(out, fx.FileNames()), err
	}
}
