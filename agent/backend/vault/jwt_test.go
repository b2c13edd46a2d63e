package vault_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
	"github.com/tradepulse/secret-injector/agent/backend/vault"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/agent/config"
)

// kubeAPIServer starts a real kube-apiserver and etcd (envtest) for the
// test. Without the binaries it skips locally and fails in CI.
func kubeAPIServer(t *testing.T) (*envtest.Environment, kubernetes.Interface) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		msg := `KUBEBUILDER_ASSETS is unset: build the test API server with hack/k8s-tools.sh, then eval "$(hack/k8s-tools.sh env)"`
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	env := &envtest.Environment{ControlPlaneStartTimeout: time.Minute}
	// The issuer's discovery document points at the keys through the
	// external host, which is otherwise the machine's first address: the
	// API server listens on loopback only.
	env.ControlPlane.GetAPIServer().Configure().Set("external-hostname", "127.0.0.1")
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return env, cs
}

// TestJWTAuthWithServiceAccountToken logs in with Vault's real jwt auth
// method, configured as a cluster operator would against a real
// kube-apiserver's service-account issuer (OIDC discovery over the API
// server's TLS), with a token the API server issued for a ServiceAccount
// and the Vault audience, as the kubelet projects it into the agent. The
// role binds the audience and the ServiceAccount: a token of another
// ServiceAccount, or for another audience, is refused as ErrDenied.
func TestJWTAuthWithServiceAccountToken(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	env, kube := kubeAPIServer(t)
	c := ctx(t, 2*time.Minute)

	// Vault fetches the issuer's discovery document and keys without
	// credentials; Kubernetes' documented way to allow that.
	_, err := kube.RbacV1().ClusterRoleBindings().Create(c, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "service-account-issuer-discovery-unauthenticated"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:service-account-issuer-discovery"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "system:unauthenticated"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const ns, account, other = "tradepulse", "trader", "intruder"
	if _, err := kube.CoreV1().Namespaces().Create(c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, sa := range []string{account, other} {
		if _, err := kube.CoreV1().ServiceAccounts(ns).Create(c, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	token := func(sa, audience string) string {
		t.Helper()
		tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(c, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: ptr.To(int64(3600))},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("token request for %s: %v", sa, err)
		}
		return tr.Status.Token
	}
	issuer := env.ControlPlane.APIServer.SecureServing.URL("https", "/").String()

	root := bed.Root(t)
	mount := vaulttest.Unique("jwt-")
	if err := root.Sys().EnableAuthWithOptionsWithContext(c, mount, &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = root.Sys().DisableAuthWithContext(cctx, mount)
	})
	if _, err := root.Logical().WriteWithContext(c, "auth/"+mount+"/config", map[string]any{
		"oidc_discovery_url":    issuer,
		"oidc_discovery_ca_pem": string(env.Config.CAData),
		"bound_issuer":          issuer,
	}); err != nil {
		t.Fatalf("configure jwt auth against the API server's issuer %s: %v", issuer, err)
	}
	kv := bed.KVMount(t, 2)
	if _, err := root.KVv2(kv).Put(c, "tradepulse/api-key", map[string]any{"key": backendtest.Sentinel}); err != nil {
		t.Fatal(err)
	}
	policy := bed.Policy(t, kvPolicy(kv, 2))
	if _, err := root.Logical().WriteWithContext(c, "auth/"+mount+"/role/trader", map[string]any{
		"role_type":       "jwt",
		"bound_audiences": []string{"vault"},
		"user_claim":      "sub",
		"bound_subject":   "system:serviceaccount:" + ns + ":" + account,
		"token_policies":  []string{policy},
		"token_ttl":       "10m",
	}); err != nil {
		t.Fatal(err)
	}

	login := func(t *testing.T, jwt string) (*vault.Backend, error) {
		log, l := newLogs(t)
		l.forbid(jwt)
		b, err := vault.New(ctx(t, 15*time.Second), config.VaultBackend{
			Address:   bed.Addr,
			Auth:      vault.AuthJWT,
			AuthPath:  mount,
			Role:      "trader",
			TokenPath: vaulttest.WriteFile(t, "token", jwt),
		}, nil, log)
		if err == nil {
			t.Cleanup(func() { _ = b.Close() })
		}
		noLeak(t, err, jwt)
		return b, err
	}

	t.Run("the pod's own token reads its secret", func(t *testing.T) {
		b, err := login(t, token(account, "vault"))
		if err != nil {
			t.Fatalf("jwt login: %v", err)
		}
		s, err := b.Fetch(ctx(t, 10*time.Second), kv+"/tradepulse/api-key#key")
		if err != nil {
			t.Fatalf("fetch after jwt login: %v", err)
		}
		if string(s.Data) != backendtest.Sentinel {
			t.Errorf("fetched %d bytes, not the value written", len(s.Data))
		}
	})
	t.Run("another service account is denied", func(t *testing.T) {
		_, err := login(t, token(other, "vault"))
		if !errors.Is(err, backend.ErrDenied) {
			t.Fatalf("login as %s: %v; want ErrDenied", other, err)
		}
		if !strings.Contains(err.Error(), "jwt at auth/"+mount) {
			t.Errorf("error does not name the auth method and mount: %v", err)
		}
	})
	t.Run("a token for another audience is denied", func(t *testing.T) {
		_, err := login(t, token(account, "not-vault"))
		if !errors.Is(err, backend.ErrDenied) {
			t.Fatalf("login with a token for another audience: %v; want ErrDenied", err)
		}
	})
}
