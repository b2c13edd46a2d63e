package agentcmd

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/env"
	"github.com/tradepulse/secret-injector/agent/config"
)

// opener builds one kind of backend from the config. key keys the
// versions of secrets that carry none of their own (env, Vault KV v1).
type opener func(ctx context.Context, cfg *config.Config, key backend.VersionKey, log *slog.Logger) (backend.Backend, error)

// openers are the backends built into this binary, by config.Backend.Type.
// env is always there; gcp, aws and vault each sit in a file of their own
// that a build tag leaves out (agent_nogcp, agent_noaws, agent_novault),
// so that what one SDK costs at start can be measured
// (docs/performance.md). The released binaries carry all four.
var openers = map[string]opener{config.BackendEnv: openEnv}

// openBackend builds the backend the config names.
func openBackend(ctx context.Context, cfg *config.Config, key backend.VersionKey, log *slog.Logger) (backend.Backend, error) {
	open, ok := openers[cfg.Backend.Type]
	if !ok {
		return nil, fmt.Errorf("backend %q is not built into this binary", cfg.Backend.Type)
	}
	return open(ctx, cfg, key, log)
}

func openEnv(_ context.Context, cfg *config.Config, key backend.VersionKey, log *slog.Logger) (backend.Backend, error) {
	return env.New(orZero(cfg.Backend.Env).Files, key, log)
}

// orZero is a backend's block of the config, or the zero block when the
// config has none (the backend's defaults, its environment).
func orZero[T any](block *T) T {
	if block == nil {
		var zero T
		return zero
	}
	return *block
}
