package vault_test

import (
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
	"github.com/tradepulse/secret-injector/agent/backend/vault"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/agent/config"
)

// TestVaultDownIsTransient stops a Vault of the test's own: while it is
// down, Fetch and Version fail quickly and transiently (the agent keeps
// the last good value); once it is back and configured again, they work.
func TestVaultDownIsTransient(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	srv := bed.StartDevServer(t)
	put := func(v string) {
		t.Helper()
		root := vaulttest.NewClient(t, srv.Addr, srv.RootToken)
		if _, err := root.KVv2("secret").Put(ctx(t, 10*time.Second), "exchanges/binance", map[string]any{"api-key": v}); err != nil {
			t.Fatal(err)
		}
	}
	put("before-" + backendtest.Sentinel)
	b, l := newBackend(t, config.VaultBackend{
		Address:   srv.Addr,
		Auth:      vault.AuthToken,
		TokenPath: vaulttest.WriteFile(t, "token", srv.RootToken),
	})
	l.forbid(srv.RootToken)
	const ref = "secret/exchanges/binance#api-key"
	if _, err := b.Fetch(ctx(t, 10*time.Second), ref); err != nil {
		t.Fatalf("Fetch while up: %v", err)
	}

	srv.Stop()
	start := time.Now()
	_, err := b.Fetch(ctx(t, 10*time.Second), ref)
	if err == nil || backend.FailsClosed(err) {
		t.Fatalf("Fetch while down: %v, want a transient error", err)
	}
	_, verr := b.Version(ctx(t, 10*time.Second), ref)
	if verr == nil || backend.FailsClosed(verr) {
		t.Fatalf("Version while down: %v, want a transient error", verr)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("failing while down took %s; the agent's backoff, not the client, should wait", took)
	}
	noLeak(t, err)
	t.Logf("while down: %v", err)

	srv.Start()
	put("after")
	sec, err := b.Fetch(ctx(t, 10*time.Second), ref)
	if err != nil || string(sec.Data) != "after" {
		t.Fatalf("Fetch after restart: %q, %v", sec.Data, err)
	}
}
