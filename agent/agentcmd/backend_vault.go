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

// openVault builds the Vault backend from the config's vault block as it
// is; without one, from the VAULT_* environment alone.
func openVault(ctx context.Context, cfg *config.Config, key backend.VersionKey, log *slog.Logger) (backend.Backend, error) {
	return vault.New(ctx, orZero(cfg.Backend.Vault), key, log)
}
