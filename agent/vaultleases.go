package agent

import "time"

// The Vault backend's lease settings that the agent acts on itself: the
// backend keeps and revokes a lease when told (backend.LeaseKeeper), the
// agent decides when. They are the only Vault settings the agent reads;
// the rest of config.VaultBackend is the backend's (agent/backend/vault).

// DefaultRevokeGrace is how long an old lease outlives its replacement
// when the config does not say: long enough for the app to reload.
const DefaultRevokeGrace = 30 * time.Second

// revokeGrace is how long a superseded lease lives on after its
// replacement was written (config.VaultBackend.RevokeGrace).
func (a *Agent) revokeGrace() time.Duration {
	if v := a.cfg.Backend.Vault; v != nil && v.RevokeGrace > 0 {
		return time.Duration(v.RevokeGrace)
	}
	return DefaultRevokeGrace
}

// revokesOnShutdown says whether the sidecar revokes the leases it holds
// when it stops (config.VaultBackend.RevokeOnShutdown).
func (a *Agent) revokesOnShutdown() bool {
	v := a.cfg.Backend.Vault
	return v != nil && v.RevokeOnShutdown
}
