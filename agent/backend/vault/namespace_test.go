package vault_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
	"github.com/tradepulse/secret-injector/agent/backend/vault"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/agent/config"
)

// TestNamespaceOnEveryRequest checks that the backend sends its Vault
// namespace (X-Vault-Namespace, which Vault Enterprise and HCP Vault route
// by) on the login and on every call after it. The bed's Vault is the open
// source edition, which serves every request from its root namespace and
// ignores the header, so a recording proxy in front of it observes what
// the agent sends while the real server answers.
func TestNamespaceOnEveryRequest(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	target, err := url.Parse(bed.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = map[string]string{} // "METHOD path" -> namespace header
	)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method+" "+r.URL.Path] = r.Header.Get("X-Vault-Namespace")
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	mount := bed.KVMount(t, 2)
	if _, err := bed.Root(t).KVv2(mount).Put(ctx(t, 10*time.Second), "tradepulse/api-key", map[string]any{"key": backendtest.Sentinel}); err != nil {
		t.Fatal(err)
	}
	authMount, roleID, secretID := bed.AppRole(t, nil, bed.Policy(t, kvPolicy(mount, 2)))
	b, _ := newBackend(t, config.VaultBackend{
		Address:      srv.URL,
		Namespace:    "team-a/trading",
		Auth:         vault.AuthAppRole,
		AuthPath:     authMount,
		RoleIDPath:   roleID,
		SecretIDPath: secretID,
	})
	s, err := b.Fetch(ctx(t, 10*time.Second), mount+"/tradepulse/api-key#key")
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if string(s.Data) != backendtest.Sentinel {
		t.Errorf("fetched %d bytes, not the value written", len(s.Data))
	}
	if _, err := b.Version(ctx(t, 10*time.Second), mount+"/tradepulse/api-key#key"); err != nil {
		t.Fatalf("version: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	login := "PUT /v1/" + authMount + "/login"
	if _, ok := seen[login]; !ok {
		t.Errorf("no login request seen (%s); saw %v", login, seen)
	}
	if len(seen) < 3 {
		t.Errorf("saw %d distinct requests, want the login, the mount lookup, the read and the metadata read: %v", len(seen), seen)
	}
	for req, ns := range seen {
		if ns != "team-a/trading" {
			t.Errorf("%s carried namespace %q, want team-a/trading", req, ns)
		}
	}
}
