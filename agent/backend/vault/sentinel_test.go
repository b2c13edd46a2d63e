package vault_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
	"github.com/tradepulse/secret-injector/agent/backend/vault"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/agent/config"
)

// echoingVault answers like a Vault whose error messages repeat what they
// were sent and hold a secret value: every error path must drop the body.
// Lookups of the token and of the mount succeed; everything else fails
// with status.
func echoingVault(t *testing.T, status int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/auth/token/lookup-self":
			_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"ttl": 0, "renewable": false}})
		case strings.HasPrefix(r.URL.Path, "/v1/sys/internal/ui/mounts/"):
			_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
				"path": "secret/", "type": "kv", "options": map[string]any{"version": "2"},
			}})
		case status == http.StatusBadGateway: // a proxy's page, not JSON
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			_, _ = w.Write([]byte("<html>upstream said " + backendtest.Sentinel + "</html>"))
		default:
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{"errors": []string{"request held " + backendtest.Sentinel}})
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestErrorsNeverHoldValues sends every call through every error status
// and checks errors and logs (the log check runs at cleanup) for the
// sentinel. It needs no test bed.
func TestErrorsNeverHoldValues(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 403, 404, 429, 500, 502, 503} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			srv := echoingVault(t, status)
			b, _ := newBackend(t, config.VaultBackend{
				Address:   srv.URL,
				Auth:      vault.AuthToken,
				TokenPath: vaulttest.WriteFile(t, "token", "hvs.test-token"),
			})
			const ref = "secret/tradepulse/mlflow"
			_, err := b.Fetch(ctx(t, 5*time.Second), ref)
			if err == nil {
				t.Fatal("Fetch succeeded against a failing server")
			}
			noLeak(t, err)
			if !strings.Contains(err.Error(), ref) {
				t.Errorf("error %q does not name the reference", err)
			}
			_, err = b.Version(ctx(t, 5*time.Second), ref)
			noLeak(t, err)
			noLeak(t, b.Revoke(ctx(t, 5*time.Second), "database/creds/app/x"))
			kctx := ctx(t, 3*time.Second)
			lease := backend.Lease{ID: "database/creds/app/x", TTL: 2 * time.Second, Renewable: true, Expiry: time.Now().Add(2 * time.Second)}
			noLeak(t, b.KeepAlive(kctx, lease, func(backend.Lease) {}))

			// approle: the login itself fails
			log, _ := newLogs(t)
			_, err = vault.New(ctx(t, 5*time.Second), config.VaultBackend{
				Address: srv.URL, Auth: vault.AuthAppRole,
				RoleIDPath:   vaulttest.WriteFile(t, "role-id", "role"),
				SecretIDPath: vaulttest.WriteFile(t, "secret-id", backendtest.Sentinel),
			}, nil, log)
			if err == nil {
				t.Fatal("approle login succeeded against a failing server")
			}
			noLeak(t, err)
		})
	}
}

// TestDatabasePasswordNeverLogged: leased credentials pass through Fetch,
// KeepAlive and Revoke with the backend logging at debug level; the
// password never reaches the logs (checked at cleanup).
func TestDatabasePasswordNeverLogged(t *testing.T) {
	t.Parallel()
	bed, ref, b, l := dbSetup(t, 3*time.Second, 6*time.Second)
	sec, creds := fetchCreds(t, bed, b, l, ref)
	if err := b.KeepAlive(ctx(t, 20*time.Second), *sec.Lease, func(backend.Lease) {}); err != nil {
		t.Fatalf("KeepAlive: %v", err)
	}
	if err := b.Revoke(ctx(t, 10*time.Second), sec.Lease.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if strings.Contains(l.String(), creds.Password) {
		t.Fatal("the database password is in the logs")
	}
}
