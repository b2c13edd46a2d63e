package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/podrunner"
)

// dbLogin is one set of PostgreSQL credentials as the app reads them.
type dbLogin struct{ user, password string }

func loginFrom(t *testing.T, files map[string]podrunner.File) dbLogin {
	t.Helper()
	u, p := files["db/username"].Data, files["db/password"].Data
	if u == "" || p == "" {
		t.Fatalf("the app finds no db/username and db/password (files: %v)", slices.Sorted(maps.Keys(files)))
	}
	return dbLogin{u, p}
}

// leaseTimes is what Vault (as the operator's `vault lease lookup`) says of
// a lease.
type leaseTimes struct{ issued, expires time.Time }

func lookupLease(t *testing.T, ctx context.Context, v *bed.Vault, id string) leaseTimes {
	t.Helper()
	s, err := v.Root.Logical().WriteWithContext(ctx, "sys/leases/lookup", map[string]any{"lease_id": id})
	if err != nil || s == nil {
		t.Fatalf("vault lease lookup %s: %v", id, err)
	}
	var lt leaseTimes
	for k, dst := range map[string]*time.Time{"issue_time": &lt.issued, "expire_time": &lt.expires} {
		str, _ := s.Data[k].(string)
		if *dst, err = time.Parse(time.RFC3339Nano, str); err != nil {
			t.Fatalf("vault lease lookup %s: %s %q: %v", id, k, str, err)
		}
	}
	return lt
}

// Scenario 3, dynamic database credentials: the agent logs into Vault with
// the pod's own service-account token (Kubernetes auth, checked by a real
// TokenReview against the bed's API server), writes PostgreSQL credentials
// that log in, renews their lease without a new issue, fetches new ones
// before the max TTL, and on the admin endpoint's revoke leaves the old
// login unusable, the new one working, and the app told.
func TestDatabaseCredentials(t *testing.T) {
	t.Parallel() // after the sequential tests (TestAdmission stops the webhook), alongside the others marked so
	v := needVault(t)
	printWebhookLogsOnFailure(t)
	ctx := testContext(t, 3*time.Minute)
	ns := newNamespace(t, "e2e-db")
	p := createPod(t, ctx, podCase{name: "ledger", backend: theBed.Backends["vault"], ns: ns, annotations: map[string]string{
		"secret-db": v.DBRef(), "format-db": "json", "refresh-interval": "1m",
	}})
	if err := p.WaitRunning(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	if auth := agentVaultAuth(t, p); auth != "kubernetes" {
		t.Fatalf("the injected agent logs into Vault with %q auth, want kubernetes", auth)
	}

	// The credentials the app started with log in.
	atStart, err := p.App.FilesAtStart()
	if err != nil {
		t.Fatal(err)
	}
	first := loginFrom(t, atStart)
	p.secret(first.password)
	if err := v.Env.PGLogin(ctx, first.user, first.password); err != nil {
		t.Fatalf("the app's database credentials do not log in: %v", err)
	}
	st := p.status(t, ctx, "db")
	if st.Lease == nil || st.Lease.ID == "" || !st.OK {
		t.Fatalf("GET /v1/status shows no lease for db: %+v", st)
	}
	lease1 := st.Lease.ID
	issued1 := lookupLease(t, ctx, v, lease1).issued
	if now := currentLogin(t, p); now != first {
		t.Fatalf("the sidecar's lease %s is not the app's credentials at start", lease1)
	}

	// Renewed without a new issue: the same lease and login, a later expiry.
	labels := map[string]string{"secret": "db", "backend": "vault"}
	expiry1 := st.Lease.Expiry
	eventually(t, ctx, bed.DBDefaultTTL+5*time.Second, "the lease renewed", func() bool {
		s := p.status(t, ctx, "db")
		return s.Lease != nil && s.Lease.ID == lease1 && s.Lease.Expiry.After(expiry1.Add(time.Second))
	})
	if now := currentLogin(t, p); now != first {
		t.Errorf("renewal issued new credentials")
	}
	if n := p.metric(t, ctx, "secret_lease_renewals_total", map[string]string{"secret": "db", "result": "ok"}); n < 1 {
		t.Errorf("secret_lease_renewals_total{result=ok} = %v after a renewal", n)
	}
	if got := p.metric(t, ctx, "secret_lease_expiry_timestamp_seconds", labels); got <= float64(expiry1.Unix()) {
		t.Errorf("secret_lease_expiry_timestamp_seconds = %v did not move past %v", got, expiry1.Unix())
	}

	// Re-fetched before the max TTL: a new lease, issued while the first one
	// still lived, new credentials in the files, the app told.
	reloads := p.App.Reloads()
	var lease2 string
	// The agent records the new lease, then writes its files: wait for both.
	eventually(t, ctx, bed.DBMaxTTL+10*time.Second, "new credentials near the max TTL", func() bool {
		s := p.status(t, ctx, "db")
		if s.Lease == nil || s.Lease.ID == lease1 || !s.OK {
			return false
		}
		lease2 = s.Lease.ID
		return currentLogin(t, p).user != first.user
	})
	maxEnd := issued1.Add(bed.DBMaxTTL)
	issued2 := lookupLease(t, ctx, v, lease2).issued
	if !issued2.Before(maxEnd) {
		t.Errorf("the new lease was issued at %s, not before the first one's max TTL (%s)", issued2.Format(time.RFC3339Nano), maxEnd.Format(time.RFC3339Nano))
	}
	t.Logf("new credentials issued %s after the first, %s before its max TTL", issued2.Sub(issued1).Round(10*time.Millisecond), maxEnd.Sub(issued2).Round(10*time.Millisecond))
	second := currentLogin(t, p)
	p.secret(second.password)
	if second.user == first.user {
		t.Fatalf("a new lease but the same login %s", first.user)
	}
	if err := v.Env.PGLogin(ctx, second.user, second.password); err != nil {
		t.Fatalf("the re-fetched credentials do not log in: %v", err)
	}
	eventually(t, ctx, 10*time.Second, "the app told of the re-fetched credentials", func() bool {
		files, _ := p.App.Files()
		return p.App.Reloads() > reloads && files["db/username"].Data == second.user
	})

	// Emergency revocation through the admin endpoint.
	reloads = p.App.Reloads()
	code, body, err := p.sidecar(t).Admin(ctx, http.MethodPost, "/v1/leases/revoke?secret=db")
	if err != nil || code != http.StatusOK {
		t.Fatalf("POST /v1/leases/revoke: %d %v %s", code, err, body)
	}
	var res admin.RevokeResult
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Revoked) != 1 || res.Revoked[0].RevokedLease != lease2 || res.Revoked[0].NewLease == "" || res.Revoked[0].NewLease == lease2 {
		t.Fatalf("POST /v1/leases/revoke answered %+v, want lease %s revoked and replaced", res.Revoked, lease2)
	}
	if strings.Contains(body, second.password) {
		t.Errorf("the revoke answer holds a password")
	}
	if err := v.Env.PGLogin(ctx, second.user, second.password); err == nil {
		t.Errorf("the revoked login %s still logs into PostgreSQL", second.user)
	}
	third := currentLogin(t, p)
	p.secret(third.password)
	if third.user == second.user {
		t.Fatalf("the files still hold the revoked login")
	}
	if err := v.Env.PGLogin(ctx, third.user, third.password); err != nil {
		t.Errorf("the credentials that replaced the revoked ones do not log in: %v", err)
	}
	if s := p.status(t, ctx, "db"); s.Lease == nil || s.Lease.ID != res.Revoked[0].NewLease || !s.OK {
		t.Errorf("GET /v1/status after the revoke: %+v, want lease %s", s, res.Revoked[0].NewLease)
	}
	if n := p.metric(t, ctx, "secret_lease_revocations_total", map[string]string{"secret": "db", "result": "ok"}); n < 1 {
		t.Errorf("secret_lease_revocations_total{result=ok} = %v after a revoke", n)
	}
	eventually(t, ctx, 10*time.Second, "the app told of the revocation", func() bool {
		files, _ := p.App.Files()
		return p.App.Reloads() > reloads && files["db/username"].Data == third.user
	})
}

// currentLogin reads the credentials in the pod's volume now.
func currentLogin(t *testing.T, p *running) dbLogin {
	t.Helper()
	files, err := podrunner.ReadSecrets(p.SecretsDir())
	if err != nil {
		t.Fatal(err)
	}
	return loginFrom(t, files)
}

// agentVaultAuth is the auth method in the injected sidecar's config.
func agentVaultAuth(t *testing.T, p *running) string {
	t.Helper()
	for _, c := range p.Spec().Spec.InitContainers {
		if c.Name != "secret-injector-agent" {
			continue
		}
		for _, e := range c.Env {
			if e.Name != "SECRET_INJECTOR_CONFIG" {
				continue
			}
			var cfg struct {
				Backend struct {
					Vault struct {
						Auth string `json:"auth"`
					} `json:"vault"`
				} `json:"backend"`
			}
			if err := json.Unmarshal([]byte(e.Value), &cfg); err != nil {
				t.Fatal(err)
			}
			return cfg.Backend.Vault.Auth
		}
	}
	t.Fatal("no native sidecar secret-injector-agent with SECRET_INJECTOR_CONFIG")
	return ""
}

// TestVaultKubernetesAuth: Vault's role is bound to the pods' service
// account, and Vault checks each login with a TokenReview against the bed's
// API server. A pod running as another service account gets nothing: its
// init container fails closed on the refused login (the kubelet would
// restart it with back-off) and its app never starts.
func TestVaultKubernetesAuth(t *testing.T) {
	t.Parallel() // after the sequential tests (TestAdmission stops the webhook), alongside the others marked so
	v := needVault(t)
	printWebhookLogsOnFailure(t)
	ctx := testContext(t, time.Minute)
	ns := newNamespace(t, "e2e-intruder")
	const sa = "intruder"
	if _, err := theBed.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := createPod(t, ctx, podCase{name: "intruder", serviceAccount: sa, backend: theBed.Backends["vault"], ns: ns,
		annotations: map[string]string{"secret-db": v.DBRef(), "format-db": "json"}})
	eventually(t, ctx, 20*time.Second, "the native sidecar refused by Vault", func() bool {
		c := p.Container("secret-injector-agent")
		return c != nil && strings.Contains(c.Proc.Output(), "access denied (vault answered 403)")
	})
	if p.App.Started() {
		t.Fatal("the app of a pod Vault refused started")
	}
	if ph, _ := p.Phase(); ph != "Failed" && !strings.HasPrefix(ph, "Init:0/") {
		t.Fatalf("the pod is %s, want it held in or failed at its first init container (the native sidecar's postStart hook)", ph)
	}
	if _, err := os.Lstat(filepath.Join(p.SecretsDir(), "db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused pod has db in its volume: %v", err)
	}
}
