package vault_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/vault"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/agent/config"
)

// tokenReviewer stands in for the Kubernetes API server's TokenReview
// endpoint, the only call Vault's Kubernetes auth makes. It accepts the
// service-account tokens it issued and records which ones it reviewed.
type tokenReviewer struct {
	srv *httptest.Server
	key *ecdsa.PrivateKey

	mu       sync.Mutex
	issued   []string
	reviewed []string
}

const (
	k8sNamespace = "tradepulse"
	k8sAccount   = "trader"
	k8sUID       = "0d6f3c2e-8c1a-4a47-9a55-3f1d2b7a9e10"
)

func newTokenReviewer(t *testing.T) *tokenReviewer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := &tokenReviewer{key: key}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(r.review))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *tokenReviewer) review(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
		http.NotFound(w, req)
		return
	}
	var tr struct {
		Spec struct {
			Token     string   `json:"token"`
			Audiences []string `json:"audiences"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(req.Body).Decode(&tr); err != nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	valid := slices.Contains(r.issued, tr.Spec.Token)
	r.reviewed = append(r.reviewed, tr.Spec.Token)
	r.mu.Unlock()
	status := map[string]any{"authenticated": false}
	if valid {
		status = map[string]any{
			"authenticated": true,
			"user":          map[string]any{"username": "system:serviceaccount:" + k8sNamespace + ":" + k8sAccount, "uid": k8sUID},
			"audiences":     tr.Spec.Audiences,
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status,
	})
}

// token issues a projected service-account token (ES256, audience vault).
func (r *tokenReviewer) token(t *testing.T) string {
	now := time.Now().Unix()
	claims := map[string]any{
		"iss": "https://kubernetes.default.svc.cluster.local",
		"sub": "system:serviceaccount:" + k8sNamespace + ":" + k8sAccount,
		"aud": []string{"vault"},
		"iat": now, "nbf": now, "exp": now + 3600,
		"jti": vaulttest.Unique("jti-"),
		"kubernetes.io": map[string]any{
			"namespace":      k8sNamespace,
			"serviceaccount": map[string]any{"name": k8sAccount, "uid": k8sUID},
		},
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(map[string]string{"alg": "ES256", "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signed))
	rr, ss, err := ecdsa.Sign(rand.Reader, r.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	jwt := signed + "." + base64.RawURLEncoding.EncodeToString(sig)
	r.mu.Lock()
	r.issued = append(r.issued, jwt)
	r.mu.Unlock()
	return jwt
}

func (r *tokenReviewer) reviewedTokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reviewed)
}

// kubernetesAuth enables Kubernetes auth at a unique mount, pointed at the
// reviewer, with a role for the test's service account.
func kubernetesAuth(t *testing.T, bed *vaulttest.Env, r *tokenReviewer, policy string) string {
	root := bed.Root(t)
	path := vaulttest.Unique("kubernetes-")
	if err := root.Sys().EnableAuthWithOptionsWithContext(ctx(t, 10*time.Second), path, &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Sys().DisableAuth(path) })
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw})
	if _, err := root.Logical().WriteWithContext(ctx(t, 10*time.Second), "auth/"+path+"/config", map[string]any{
		"kubernetes_host":        r.srv.URL,
		"kubernetes_ca_cert":     string(ca),
		"disable_local_ca_jwt":   true,
		"disable_iss_validation": true,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().WriteWithContext(ctx(t, 10*time.Second), "auth/"+path+"/role/"+k8sAccount, map[string]any{
		"bound_service_account_names":      k8sAccount,
		"bound_service_account_namespaces": k8sNamespace,
		"audience":                         "vault",
		"token_policies":                   policy,
	}); err != nil {
		t.Fatal(err)
	}
	return "auth/" + path
}

// TestKubernetesAuth logs in with a projected service-account token, the
// way an injected agent does, and reads the token file anew at every
// login: after the kubelet rotates it, the next login uses the new one.
func TestKubernetesAuth(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	_, ref, policy := kvSecret(t, bed)
	reviewer := newTokenReviewer(t)
	mount := kubernetesAuth(t, bed, reviewer, policy)
	first := reviewer.token(t)
	tokenFile := vaulttest.WriteFile(t, "token", first)

	b, logs := newBackend(t, config.VaultBackend{
		Address: bed.Addr, Auth: vault.AuthKubernetes, AuthPath: mount,
		Role: k8sAccount, TokenPath: tokenFile,
	})
	second := reviewer.token(t)
	logs.forbid(first, second)
	if _, err := b.Fetch(ctx(t, 10*time.Second), ref); err != nil {
		t.Fatalf("Fetch: %v", err)
	}

	if err := os.WriteFile(tokenFile, []byte(second), 0o600); err != nil {
		t.Fatal(err)
	}
	bed.RevokeLogins(t, mount)
	if _, err := b.Fetch(ctx(t, 10*time.Second), ref); err != nil {
		t.Fatalf("Fetch after re-login: %v", err)
	}
	got := reviewer.reviewedTokens()
	if len(got) != 2 || got[0] != first || got[1] != second {
		t.Errorf("reviewed %d tokens; want the first, then the rotated one", len(got))
	}
}

// TestKubernetesAuthWrongRole: a role the service account is not bound to
// fails closed at New.
func TestKubernetesAuthWrongRole(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	reviewer := newTokenReviewer(t)
	mount := kubernetesAuth(t, bed, reviewer, "default")
	log, _ := newLogs(t)
	jwt := reviewer.token(t)
	_, err := vault.New(ctx(t, 10*time.Second), config.VaultBackend{
		Address: bed.Addr, Auth: vault.AuthKubernetes, AuthPath: mount,
		Role: "someone-else", TokenPath: vaulttest.WriteFile(t, "token", jwt),
	}, nil, log)
	if !errors.Is(err, backend.ErrDenied) {
		t.Fatalf("New with an unbound role: %v, want ErrDenied", err)
	}
	noLeak(t, err, jwt)
}
