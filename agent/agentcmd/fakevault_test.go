package agentcmd

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeVault answers the few Vault calls the agent makes for token auth,
// KV v2 secrets under the mount secret/ and KV v1 secrets under kv1/:
// token lookup, mount detection, data and metadata reads. It stands in for the Vault bed where what is
// tested is the agent around the backend, not Vault.
type fakeVault struct {
	mu      sync.Mutex
	token   string
	secrets map[string]map[string]any // path under secret/, or kv1/<path> → data
	calls   int
}

func newFakeVault(token string) *fakeVault {
	return &fakeVault{token: token, secrets: map[string]map[string]any{}}
}

func (v *fakeVault) put(path string, data map[string]any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secrets[path] = data
}

func (v *fakeVault) callCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls
}

func (v *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	reply := func(code int, body any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	}
	if r.Header.Get("X-Vault-Token") != v.token {
		reply(http.StatusForbidden, map[string]any{"errors": []string{"permission denied"}})
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	switch {
	case r.Method == http.MethodGet && p == "auth/token/lookup-self":
		reply(http.StatusOK, map[string]any{"data": map[string]any{"ttl": 0, "renewable": false, "policies": []string{"root"}}})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "sys/internal/ui/mounts/secret/"):
		reply(http.StatusOK, map[string]any{"data": map[string]any{"path": "secret/", "type": "kv", "options": map[string]any{"version": "2"}}})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "sys/internal/ui/mounts/kv1/"):
		reply(http.StatusOK, map[string]any{"data": map[string]any{"path": "kv1/", "type": "kv", "options": map[string]any{"version": "1"}}})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "kv1/"):
		data, ok := v.secrets["kv1/"+strings.TrimPrefix(p, "kv1/")]
		if !ok {
			reply(http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		reply(http.StatusOK, map[string]any{"data": data})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "secret/data/"):
		data, ok := v.secrets[strings.TrimPrefix(p, "secret/data/")]
		if !ok {
			reply(http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		reply(http.StatusOK, map[string]any{"data": map[string]any{"data": data,
			"metadata": map[string]any{"version": 1, "deletion_time": "", "destroyed": false}}})
	case r.Method == http.MethodGet && strings.HasPrefix(p, "secret/metadata/"):
		if _, ok := v.secrets[strings.TrimPrefix(p, "secret/metadata/")]; !ok {
			reply(http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		reply(http.StatusOK, map[string]any{"data": map[string]any{"current_version": 1,
			"versions": map[string]any{"1": map[string]any{"deletion_time": "", "destroyed": false}}}})
	default:
		reply(http.StatusNotFound, map[string]any{"errors": []string{"no handler for " + r.Method + " " + p}})
	}
}

// serveFakeVault serves v on addr (host:port) until the test ends.
func serveFakeVault(t *testing.T, v *fakeVault, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(v)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
}
