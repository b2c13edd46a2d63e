package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/env"
	"github.com/tradepulse/secret-injector/agent/config"
)

// openBackend builds the backend the config names.
func openBackend(ctx context.Context, cfg *config.Config, log *slog.Logger) (backend.Backend, error) {
	switch cfg.Backend.Type {
	case config.BackendEnv:
		var files []string
		if cfg.Backend.Env != nil {
			files = cfg.Backend.Env.Files
		}
		return env.New(files, log)
	}
	return nil, fmt.Errorf("backend %q is not built into this binary", cfg.Backend.Type)
}
