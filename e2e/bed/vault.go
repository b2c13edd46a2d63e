package bed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/injector"
)

// VaultEnvHint says how to provide the Vault bed.
const VaultEnvHint = "run hack/vault-bed.sh up and eval \"$(hack/vault-bed.sh env)\""

// Vault is the bed's view of the Vault + PostgreSQL bed: a KV v2 mount, a
// Kubernetes auth mount checking tokens against the bed's API server, a
// role for every e2e pod, and a dynamic PostgreSQL role.
type Vault struct {
	// Env is the Vault bed's environment (addresses, psql).
	Env *vaulttest.Env
	// Root is a root-token client: the operator's `vault` CLI.
	Root *api.Client
	// KVMount, AuthPath (auth/...), Role, DBRole are this bed's own names.
	KVMount, AuthPath, Role, DBRole string
}

// vaultEnv reads the Vault bed's environment, or nil when it is absent.
func vaultEnv() (*vaulttest.Env, []string) { return vaulttest.FromEnviron() }

// DB TTLs: short, so that renewal and the max-TTL re-fetch happen inside a
// test.
const (
	DBDefaultTTL = 6 * time.Second
	DBMaxTTL     = 20 * time.Second
)

// setupVault configures the Vault bed for this API server. Every name it
// creates is unique to this bed; cleanup removes them.
func setupVault(ctx context.Context, b *Bed, e *vaulttest.Env, dbTTL, dbMaxTTL time.Duration) (*Vault, func(), error) {
	if dbTTL == 0 {
		dbTTL = DBDefaultTTL
	}
	if dbMaxTTL == 0 {
		dbMaxTTL = DBMaxTTL
	}
	cfg := api.DefaultConfig()
	cfg.Address = e.Addr
	cfg.MaxRetries = 0
	root, err := api.NewClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	root.SetToken(e.RootToken)
	if _, err := root.Sys().HealthWithContext(ctx); err != nil {
		return nil, nil, fmt.Errorf("vault bed at %s does not answer: %w", e.Addr, err)
	}
	id := "e2e-" + randHex(4)
	v := &Vault{Env: e, Root: root, KVMount: id + "-kv", AuthPath: "auth/" + id + "-k8s", Role: id, DBRole: id + "-db"}
	var undo []func()
	cleanup := func() {
		c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = root.Sys().RevokeWithOptionsWithContext(c, &api.RevokeOptions{LeaseID: e.DBMount + "/creds/" + v.DBRole, Prefix: true, Sync: true})
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	fail := func(err error) (*Vault, func(), error) { cleanup(); return nil, nil, err }

	// The token reviewer: a service account allowed to call TokenReview.
	jwt, err := b.tokenReviewerJWT(ctx)
	if err != nil {
		return fail(err)
	}
	host, err := apiServerURL(b.Config)
	if err != nil {
		return fail(err)
	}
	mount := strings.TrimPrefix(v.AuthPath, "auth/")
	if err := root.Sys().EnableAuthWithOptionsWithContext(ctx, mount, &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		return fail(fmt.Errorf("enable kubernetes auth: %w", err))
	}
	undo = append(undo, func() { _ = root.Sys().DisableAuth(mount) })
	if _, err := root.Logical().WriteWithContext(ctx, v.AuthPath+"/config", map[string]any{
		"kubernetes_host": host, "kubernetes_ca_cert": string(b.Config.CAData),
		"token_reviewer_jwt": jwt, "disable_local_ca_jwt": true,
	}); err != nil {
		return fail(fmt.Errorf("configure kubernetes auth: %w", err))
	}
	if err := root.Sys().MountWithContext(ctx, v.KVMount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		return fail(fmt.Errorf("mount kv: %w", err))
	}
	undo = append(undo, func() { _ = root.Sys().Unmount(v.KVMount) })
	// The agent renews and revokes its own leases with its own token (the
	// admin endpoint's revoke, a superseded lease after its grace); the
	// client puts the lease id in the revoke path.
	policy := fmt.Sprintf(`
path "%[1]s/data/*" { capabilities = ["read"] }
path "%[1]s/metadata/*" { capabilities = ["read"] }
path "%[2]s/creds/%[3]s" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke/%[2]s/creds/%[3]s/*" { capabilities = ["update"] }
`, v.KVMount, e.DBMount, v.DBRole)
	if err := root.Sys().PutPolicyWithContext(ctx, id, policy); err != nil {
		return fail(fmt.Errorf("write policy: %w", err))
	}
	undo = append(undo, func() { _ = root.Sys().DeletePolicy(id) })
	if _, err := root.Logical().WriteWithContext(ctx, v.AuthPath+"/role/"+v.Role, map[string]any{
		// Bound to the pods' service account: a pod of another one is
		// refused, so a login proves the pod's own identity.
		"bound_service_account_names": PodServiceAccount, "bound_service_account_namespaces": "*",
		"audience": injector.DefaultVaultAudience, "token_policies": id, "token_ttl": "1h",
	}); err != nil {
		return fail(fmt.Errorf("write kubernetes auth role: %w", err))
	}
	if _, err := root.Logical().WriteWithContext(ctx, e.DBMount+"/roles/"+v.DBRole, map[string]any{
		"db_name": e.DBConnection, "creation_statements": vaulttest.CreationStatements,
		"revocation_statements": vaulttest.RevocationStatements,
		"default_ttl":           dbTTL.String(), "max_ttl": dbMaxTTL.String(),
	}); err != nil {
		return fail(fmt.Errorf("write database role: %w", err))
	}
	undo = append(undo, func() { _, _ = root.Logical().Delete(e.DBMount + "/roles/" + v.DBRole) })
	// A new KV v2 mount answers 400 until its storage upgrade is done.
	if err := poll(ctx, 30*time.Second, func() (bool, error) {
		_, err := root.Logical().WriteWithContext(ctx, v.KVMount+"/data/.probe", map[string]any{"data": map[string]any{"v": "1"}})
		return err == nil, nil
	}); err != nil {
		return fail(fmt.Errorf("kv mount %s never became writable: %w", v.KVMount, err))
	}
	return v, cleanup, nil
}

// DBRef is the reference of the bed's dynamic PostgreSQL credentials.
func (v *Vault) DBRef() string { return v.Env.DBMount + "/creds/" + v.DBRole }

// tokenReviewerJWT creates a service account bound to
// system:auth-delegator and returns a token for it, as an operator does
// for Vault's token_reviewer_jwt.
func (b *Bed) tokenReviewerJWT(ctx context.Context) (string, error) {
	const ns, name = ChartNamespace, "vault-token-reviewer"
	if err := b.ensureNamespace(ctx, ns); err != nil {
		return "", err
	}
	_, err := b.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create token reviewer service account: %w", err)
	}
	_, err = b.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "vault-token-reviewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("bind token reviewer: %w", err)
	}
	tr, err := b.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for the token reviewer: %w", err)
	}
	return tr.Status.Token, nil
}

func apiServerURL(c *rest.Config) (string, error) {
	h := c.Host
	if h == "" {
		return "", errors.New("rest config has no host")
	}
	if !strings.HasPrefix(h, "https://") && !strings.HasPrefix(h, "http://") {
		h = "https://" + h
	}
	return h, nil
}

// vaultBackend is Vault's KV v2: a runbook path lives at <mount>/<path>;
// a JSON object is stored as the secret's data, anything else under the
// field "value".
type vaultBackend struct{ v *Vault }

func (*vaultBackend) Name() string { return "vault" }
func (vb *vaultBackend) Ref(path string, object bool) string {
	if object {
		return vb.v.KVMount + "/" + path
	}
	return vb.v.KVMount + "/" + path + "#value"
}

func (vb *vaultBackend) Put(ctx context.Context, path string, value []byte, object bool) error {
	data := map[string]any{"value": string(value)}
	if object {
		data = map[string]any{}
		if err := json.Unmarshal(value, &data); err != nil {
			return fmt.Errorf("vault fixture: %s is not a JSON object", path)
		}
	}
	_, err := vb.v.Root.Logical().WriteWithContext(ctx, vb.v.KVMount+"/data/"+path, map[string]any{"data": data})
	if err != nil {
		return fmt.Errorf("vault kv put %s: %w", path, err)
	}
	return nil
}

// Delete is `vault kv metadata delete`: every version is gone.
func (vb *vaultBackend) Delete(ctx context.Context, path string) error {
	if _, err := vb.v.Root.Logical().DeleteWithContext(ctx, vb.v.KVMount+"/metadata/"+path); err != nil {
		return fmt.Errorf("vault kv metadata delete %s: %w", path, err)
	}
	return nil
}

func (*vaultBackend) PreparePod(_ context.Context, pod *corev1.Pod) error {
	setAnnotation(pod, injector.AnnotationBackend, "vault")
	return nil
}

func (*vaultBackend) AgentEnv() []string { return nil }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
