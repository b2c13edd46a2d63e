package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/injector"
)

// TestVaultJWTAuth: a pod that asks for Vault's JWT auth
// (vault-auth-method: jwt) logs in with the projected service-account
// token the injector mounts (audience vault) at a jwt mount configured, as
// an operator does where Vault cannot fetch the issuer's discovery
// document, with the API server's published keys (/openid/v1/jwks as
// jwt_validation_pubkeys) and its issuer. The role binds the audience and
// the pods' service account: the pod gets its secret before its app
// starts; a pod of another service account is refused and never starts.
func TestVaultJWTAuth(t *testing.T) {
	t.Parallel()
	v := needVault(t)
	printWebhookLogsOnFailure(t)
	ctx := testContext(t, 2*time.Minute)

	issuer, keys := serviceAccountIssuer(t, ctx)
	mount := "e2e-jwt-" + bed.Token()
	if err := v.Root.Sys().EnableAuthWithOptionsWithContext(ctx, mount, &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = v.Root.Sys().DisableAuthWithContext(c, mount)
	})
	if _, err := v.Root.Logical().WriteWithContext(ctx, "auth/"+mount+"/config", map[string]any{
		"jwt_validation_pubkeys": keys, "bound_issuer": issuer,
	}); err != nil {
		t.Fatalf("configure jwt auth with the API server's keys: %v", err)
	}
	if _, err := v.Root.Logical().WriteWithContext(ctx, "auth/"+mount+"/role/"+v.Role, map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{injector.DefaultVaultAudience},
		"bound_claims_type": "glob", "bound_claims": map[string]any{"sub": "system:serviceaccount:*:" + bed.PodServiceAccount},
		"token_policies": []string{v.Role}, "token_ttl": "10m",
	}); err != nil {
		t.Fatal(err)
	}

	b := theBed.Backends["vault"]
	value := "jwt-" + bed.Token()
	path := "tradepulse/jwt-" + bed.Token() + "/api-key"
	if err := b.Put(ctx, path, []byte(value), false); err != nil {
		t.Fatal(err)
	}
	ann := map[string]string{
		"vault-auth-method": "jwt",
		"vault-auth-path":   "auth/" + mount,
		"secret-api-key":    b.Ref(path, false),
	}
	ns := newNamespace(t, "e2e-jwt")
	p := createPod(t, ctx, podCase{name: "jwt", backend: b, ns: ns, annotations: ann}, value)
	if err := p.WaitRunning(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	files, err := p.App.FilesAtStart()
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := files["api-key"]; !ok || f.Data != value {
		t.Errorf("the app did not find api-key as stored at start (found %d files)", len(files))
	}
	if c := p.Container("secret-injector-agent"); c == nil || !strings.Contains(c.Proc.Output(), "jwt at auth/"+mount) {
		t.Errorf("the agent's log does not show a jwt login at auth/%s", mount)
	}

	const intruder = "intruder"
	if _, err := theBed.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: intruder}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	q := createPod(t, ctx, podCase{name: "jwt-intruder", serviceAccount: intruder, backend: b, ns: ns, annotations: ann}, value)
	eventually(t, ctx, 20*time.Second, "the intruder's agent refused by Vault", func() bool {
		c := q.Container("secret-injector-agent")
		return c != nil && strings.Contains(c.Proc.Output(), "vault login (jwt at auth/"+mount+"): access denied")
	})
	if q.App.Started() {
		t.Fatal("the app of a pod Vault refused started")
	}
}

// serviceAccountIssuer reads the API server's service-account issuer and
// its signing keys (JWKS: RSA, or P-256 as envtest's) as PEM public keys.
func serviceAccountIssuer(t *testing.T, ctx context.Context) (string, []string) {
	t.Helper()
	rc := theBed.Client.Discovery().RESTClient()
	raw, err := rc.Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
	if err != nil {
		t.Fatalf("issuer discovery: %v", err)
	}
	var disc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(raw, &disc); err != nil || disc.Issuer == "" {
		t.Fatalf("issuer discovery document %s: %v", raw, err)
	}
	raw, err = rc.Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
	if err != nil {
		t.Fatalf("jwks: %v", err)
	}
	var jwks struct {
		Keys []struct {
			Kty, Crv, N, E, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &jwks); err != nil {
		t.Fatal(err)
	}
	num := func(s string) *big.Int {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("jwks key: %v", err)
		}
		return new(big.Int).SetBytes(b)
	}
	var pems []string
	for _, k := range jwks.Keys {
		var pub any
		switch {
		case k.Kty == "RSA":
			pub = &rsa.PublicKey{N: num(k.N), E: int(num(k.E).Int64())}
		case k.Kty == "EC" && k.Crv == "P-256":
			// The uncompressed point 0x04 || X || Y, each coordinate 32 bytes.
			point := append([]byte{4}, num(k.X).FillBytes(make([]byte, 32))...)
			point = append(point, num(k.Y).FillBytes(make([]byte, 32))...)
			key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
			if err != nil {
				t.Fatalf("jwks EC key: %v", err)
			}
			pub = key
		default:
			continue
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		pems = append(pems, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	}
	if len(pems) == 0 {
		t.Fatalf("the API server publishes no RSA or P-256 key: %s", raw)
	}
	return disc.Issuer, pems
}
