//go:build !agent_novault

package agentcmd

import (
	"context"
	"log/slog"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/vault"
	"github.com/tradepulse/secret-injector/agent/config"
)

func init() { openers[config.BackendVault] = openVault }

func openVault(ctx context.Context, cfg *config.Config, key backend.VersionKey, log *slog.Logger) (backend.Backend, error) {
	var opts vault.Options
	if v := cfg.Backend.Vault; v != nil {
		opts = vault.Options{Address: v.Address, Namespace: v.Namespace, CACert: v.CACert, Auth: v.Auth,
			AuthPath: v.AuthPath, Role: v.Role, TokenPath: v.TokenPath, RoleIDPath: v.RoleIDPath,
			SecretIDPath: v.SecretIDPath, RevokeOnShutdown: v.RevokeOnShutdown}
	}
	opts.VersionKey = key
	return vault.New(ctx, opts, log)
}
