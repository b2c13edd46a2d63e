package vault_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
	"github.com/tradepulse/secret-injector/agent/backend/vault"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/agent/config"
)

// kvSecret mounts KV v2 with one secret and returns the mount, a reference
// to the secret's field, and a policy that may read it.
func kvSecret(t *testing.T, bed *vaulttest.Env) (mount, ref, policy string) {
	t.Helper()
	mount = bed.KVMount(t, 2)
	if _, err := bed.Root(t).KVv2(mount).Put(ctx(t, 10*time.Second), "exchanges/binance", map[string]any{"api-key": backendtest.Sentinel}); err != nil {
		t.Fatal(err)
	}
	return mount, mount + "/exchanges/binance#api-key", bed.Policy(t, kvPolicy(mount, 2))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAppRoleKeepsWorkingPastTokenMaxTTL: the AppRole token lives 5s and
// at most 15s; the backend renews it, logs in anew before its end, and
// keeps serving for longer than the max TTL.
func TestAppRoleKeepsWorkingPastTokenMaxTTL(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	_, ref, policy := kvSecret(t, bed)
	mount, roleID, secretID := bed.AppRole(t, map[string]any{"token_ttl": "5s", "token_max_ttl": "15s"}, policy)
	b, logs := newBackend(t, config.VaultBackend{
		Address: bed.Addr, Auth: vault.AuthAppRole, AuthPath: mount,
		RoleIDPath: roleID, SecretIDPath: secretID,
	})
	logs.forbid(readFile(t, roleID), readFile(t, secretID))

	deadline := time.Now().Add(20 * time.Second)
	fetches := 0
	for time.Now().Before(deadline) {
		if _, err := b.Fetch(ctx(t, 10*time.Second), ref); err != nil {
			t.Fatalf("Fetch after %d fetches: %v", fetches, err)
		}
		fetches++
		time.Sleep(500 * time.Millisecond)
	}
	if n := logs.count("vault login"); n < 2 {
		t.Errorf("%d logins in 20s with a 15s token max TTL, want at least 2", n)
	}
	if n := logs.count("vault token renewed"); n < 1 {
		t.Errorf("token never renewed")
	}
}

// TestReloginAfterTokenRevoked: an operator revokes every token of the
// auth mount; the next call is refused, the backend logs in again once and
// the call succeeds. A refusal with a valid token is a denial, not a
// reason to log in.
func TestReloginAfterTokenRevoked(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	_, ref, policy := kvSecret(t, bed)
	mount, roleID, secretID := bed.AppRole(t, nil, policy)
	b, logs := newBackend(t, config.VaultBackend{
		Address: bed.Addr, AuthPath: mount, RoleIDPath: roleID, SecretIDPath: secretID, // approle by default
	})
	logs.forbid(readFile(t, roleID), readFile(t, secretID))
	const relogin = "vault token is no longer valid; logging in anew"

	otherTeam := bed.KVMount(t, 2) // outside the policy
	if _, err := b.Fetch(ctx(t, 10*time.Second), otherTeam+"/secret"); !errors.Is(err, backend.ErrDenied) {
		t.Fatalf("Fetch outside the policy: %v, want ErrDenied", err)
	}
	if n := logs.count(relogin); n != 0 {
		t.Fatalf("a denial with a valid token logged in anew (%d times)", n)
	}

	bed.RevokeLogins(t, mount)
	if _, err := b.Fetch(ctx(t, 10*time.Second), ref); err != nil {
		t.Fatalf("Fetch after the token was revoked: %v", err)
	}
	if n := logs.count(relogin); n != 1 {
		t.Errorf("logged in anew %d times, want 1", n)
	}
}

// TestAppRoleBadCredentials: refused credentials make New fail closed,
// without repeating them.
func TestAppRoleBadCredentials(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	mount, roleID, _ := bed.AppRole(t, nil, "default")
	log, _ := newLogs(t)
	_, err := vault.New(ctx(t, 10*time.Second), config.VaultBackend{
		Address: bed.Addr, Auth: vault.AuthAppRole, AuthPath: mount,
		RoleIDPath: roleID, SecretIDPath: vaulttest.WriteFile(t, "secret-id", backendtest.Sentinel),
	}, nil, log)
	if !errors.Is(err, backend.ErrDenied) {
		t.Fatalf("New with a wrong secret ID: %v, want ErrDenied", err)
	}
	noLeak(t, err, readFile(t, roleID))
}

// TestTokenAuthFromFile: token auth reads its token from a file at every
// login; a revoked token is a denial until a new token is written.
func TestTokenAuthFromFile(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	_, ref, policy := kvSecret(t, bed)
	first := bed.Token(t, 0, policy)
	file := vaulttest.WriteFile(t, "token", first+"\n")
	b, logs := newBackend(t, config.VaultBackend{Address: bed.Addr, Auth: vault.AuthToken, TokenPath: file})
	second := bed.Token(t, 0, policy)
	logs.forbid(first, second)
	if _, err := b.Fetch(ctx(t, 10*time.Second), ref); err != nil {
		t.Fatal(err)
	}

	if err := bed.Root(t).Auth().Token().RevokeTreeWithContext(ctx(t, 10*time.Second), first); err != nil {
		t.Fatal(err)
	}
	_, err := b.Fetch(ctx(t, 10*time.Second), ref)
	if !errors.Is(err, backend.ErrDenied) {
		t.Fatalf("Fetch with a revoked token: %v, want ErrDenied", err)
	}
	noLeak(t, err, first, second)

	if err := os.WriteFile(file, []byte(second), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fetch(ctx(t, 10*time.Second), ref); err != nil {
		t.Fatalf("Fetch after a new token was written: %v", err)
	}
}

// TestLeaseEndsWithItsToken: Vault revokes a token's leases when the token
// expires. KeepAlive therefore returns when the backend replaces the token
// that issued the lease, so that the caller fetches credentials under the
// new token before the old ones stop working.
func TestLeaseEndsWithItsToken(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	creds := bed.DBMount + "/creds/" + bed.DBRole(t, time.Minute, 2*time.Minute)
	mount, roleID, secretID := bed.AppRole(t, map[string]any{"token_ttl": "4s", "token_max_ttl": "8s"}, bed.Policy(t, dbPolicy(creds)))
	b, logs := newBackend(t, config.VaultBackend{
		Address: bed.Addr, Auth: vault.AuthAppRole, AuthPath: mount,
		RoleIDPath: roleID, SecretIDPath: secretID,
	})
	issued := time.Now()
	sec, old := fetchCreds(t, bed, b, logs, creds)

	err := b.KeepAlive(ctx(t, time.Minute), *sec.Lease, func(backend.Lease) {})
	if err != nil {
		t.Fatalf("KeepAlive: %v", err)
	}
	if took := time.Since(issued); took > 8*time.Second {
		t.Errorf("KeepAlive returned %s after the fetch, after the token's 8s max TTL", took)
	}
	_, fresh := fetchCreds(t, bed, b, logs, creds)

	// The old token's end takes its credentials along; the new ones stay.
	deadline := time.Now().Add(15 * time.Second)
	for bed.PGLogin(ctx(t, 10*time.Second), old.Username, old.Password) == nil {
		if time.Now().After(deadline) {
			t.Fatal("credentials of the expired token still log in")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := bed.PGLogin(ctx(t, 10*time.Second), fresh.Username, fresh.Password); err != nil {
		t.Errorf("credentials of the new token: %v", err)
	}
}
