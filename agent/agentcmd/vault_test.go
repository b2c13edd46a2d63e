package agentcmd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
)

// vaultAgent is the agent binary's code running in this process against
// a Vault, with its volume, admin and metrics addresses, and a reload
// endpoint that counts how often the app was told.
type vaultAgent struct {
	dir, admin, metrics string
	reloads             atomic.Int64
	// stop ends the agent as the kubelet does (its context ends) and
	// returns its exit code once it has exited.
	stop func() int
}

// startVaultAgent writes an agent config for a Vault at addr with token
// auth, a 2 s revokeGrace and the given secrets (YAML list items), and
// runs the agent in sidecar mode until the test ends.
func startVaultAgent(t *testing.T, addr, token, secrets string) *vaultAgent {
	t.Helper()
	return startVaultAgentWith(t, addr, token, "revokeGrace: 2s", secrets)
}

// startVaultAgentWith is startVaultAgent with vault, more fields of the
// config's vault block (YAML flow style), instead of the revokeGrace.
func startVaultAgentWith(t *testing.T, addr, token, vault, secrets string) *vaultAgent {
	t.Helper()
	a := &vaultAgent{dir: t.TempDir(), admin: freePort(t), metrics: freePort(t)}
	reload := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.reloads.Add(1) }))
	t.Cleanup(reload.Close)
	cfg := fmt.Sprintf(`version: secrets.tradepulse.io/v1
backend: {type: vault, vault: {address: %q, auth: token, tokenPath: %q, %s}}
mountPath: %s
refreshInterval: 1s
adminAddr: %s
metricsAddr: %s
notify: {url: %q, debounce: 100ms}
secrets:
%s`, addr, vaulttest.WriteFile(t, "agent-token", token), vault, a.dir, a.admin, a.metrics, reload.URL+"/reload", secrets)
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"agent", "--config", path, "--log-format", "text"}) }()
	a.stop = sync.OnceValue(func() int {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		if code := a.stop(); code != 0 {
			t.Errorf("agent exited %d", code)
		}
	})
	return a
}

func (a *vaultAgent) file(name string) string {
	b, _ := os.ReadFile(filepath.Join(a.dir, name))
	return string(b)
}

func (a *vaultAgent) status(t *testing.T) map[string]admin.SecretStatus {
	t.Helper()
	var s admin.Status
	if err := json.Unmarshal([]byte(get(t, "http://"+a.admin+"/v1/status")), &s); err != nil {
		t.Fatalf("status: %v", err)
	}
	m := map[string]admin.SecretStatus{}
	for _, sec := range s.Secrets {
		m[sec.Name] = sec
	}
	return m
}

// metric is the value of the first sample of name whose labels contain
// every one of labels (`secret="db"`), or -1 if there is none.
func (a *vaultAgent) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(get(t, "http://"+a.metrics+"/metrics")))
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		return v
	}
	return -1
}

// TestAgentAgainstVault runs the agent against the real Vault and
// PostgreSQL of the test bed: database credentials written and usable,
// the lease renewed without new credentials, emergency revocation through
// the admin API, new credentials before the max TTL with the old lease
// revoked after the grace, a KV v2 update within one interval, and a
// deleted KV secret failing closed and recovering.
func TestAgentAgainstVault(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent against the Vault test bed for about a minute")
	}
	bed := vaulttest.Bed(t)
	root := bed.Root(t)
	kv := bed.KVMount(t, 2)
	putKey := func(v string) {
		t.Helper()
		if _, err := root.KVv2(kv).Put(vaulttest.Context(t, 10*time.Second), "exchanges/binance", map[string]any{"api-key": v}); err != nil {
			t.Fatal(err)
		}
	}
	putKey("key-1")
	creds := bed.DBMount + "/creds/" + bed.DBRole(t, 6*time.Second, 15*time.Second)
	policy := bed.Policy(t, fmt.Sprintf(`path %q { capabilities = ["read"] }
path %q { capabilities = ["read"] }
path %q { capabilities = ["read"] }
path "sys/leases/revoke/%s/*" { capabilities = ["update"] }
`, kv+"/data/*", kv+"/metadata/*", creds, creds))
	a := startVaultAgent(t, bed.Addr, bed.Token(t, time.Hour, policy), fmt.Sprintf(`  - {name: api-key, ref: %s/exchanges/binance#api-key}
  - {name: db, ref: %s, format: json}
`, kv, creds))

	login := func(user, password string) error {
		return bed.PGLogin(vaulttest.Context(t, 10*time.Second), user, password)
	}
	waitFor(t, 15*time.Second, func() bool { return a.file("db/username") != "" && a.file("api-key") == "key-1" })
	user1, pass1 := a.file("db/username"), a.file("db/password")
	if err := login(user1, pass1); err != nil {
		t.Fatalf("the written credentials do not log in: %v", err)
	}

	// Renewal: the expiry moves, the credentials stay.
	first := a.status(t)["db"].Lease
	if first == nil {
		t.Fatal("status shows no lease for db")
	}
	waitFor(t, 10*time.Second, func() bool {
		l := a.status(t)["db"].Lease
		return l != nil && l.ID == first.ID && l.Expiry.After(first.Expiry)
	})
	if a.file("db/username") != user1 || a.metric(t, "secret_lease_renewals_total", `secret="db"`, `result="ok"`) < 1 {
		t.Fatal("renewal issued new credentials or was not counted")
	}

	// Emergency revocation: the old login fails at once, the new one works,
	// the app is told, the answer and the status name the leases.
	reloads := a.reloads.Load()
	resp, err := http.Post("http://"+a.admin+"/v1/leases/revoke?secret=db", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var res admin.RevokeResult
	err = json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(res.Revoked) != 1 || res.Revoked[0].RevokedLease != first.ID || res.Revoked[0].NewLease == "" {
		t.Fatalf("revoke answered %d %+v (%v), want lease %s replaced", resp.StatusCode, res, err, first.ID)
	}
	if err := login(user1, pass1); err == nil {
		t.Fatal("revoked credentials still log in")
	}
	user2, pass2 := a.file("db/username"), a.file("db/password")
	if user2 == user1 {
		t.Fatal("revocation did not write new credentials")
	}
	if err := login(user2, pass2); err != nil {
		t.Fatalf("the new credentials do not log in: %v", err)
	}
	waitFor(t, 5*time.Second, func() bool { return a.reloads.Load() > reloads })
	st := a.status(t)["db"]
	if st.Lease == nil || st.Lease.ID != res.Revoked[0].NewLease || !st.OK {
		t.Errorf("status after revoke: %+v, want ok on lease %s", st, res.Revoked[0].NewLease)
	}
	if a.metric(t, "secret_lease_revocations_total", `secret="db"`, `result="ok"`) < 1 {
		t.Error("the revocation was not counted")
	}
	if body := get(t, "http://"+a.admin+"/v1/status"); strings.Contains(body, pass2) {
		t.Error("status shows the password")
	}

	// Max TTL: new credentials are written before the old lease ends, then
	// the old lease is revoked after the grace.
	var oldExpiry time.Time
	waitFor(t, 25*time.Second, func() bool {
		if a.file("db/username") != user2 {
			return true
		}
		if l := a.status(t)["db"].Lease; l != nil {
			oldExpiry = l.Expiry
		}
		return false
	})
	if now := time.Now(); !now.Before(oldExpiry) {
		t.Errorf("new credentials written %s after the old lease expired", now.Sub(oldExpiry))
	}
	user3, pass3 := a.file("db/username"), a.file("db/password")
	if err := login(user3, pass3); err != nil {
		t.Fatalf("credentials fetched at max TTL do not log in: %v", err)
	}
	waitFor(t, 10*time.Second, func() bool { return login(user2, pass2) != nil })

	// KV v2: a new version within one interval; deleted, fail closed; back.
	putKey("key-2")
	waitFor(t, 3*time.Second, func() bool { return a.file("api-key") == "key-2" })
	if err := root.KVv2(kv).DeleteMetadata(vaulttest.Context(t, 10*time.Second), "exchanges/binance"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(a.dir, "api-key"))
		return os.IsNotExist(err)
	})
	if s := a.status(t)["api-key"]; s.OK || a.metric(t, "secret_rotation_status", `secret="api-key"`) != 0 {
		t.Errorf("after delete: status %+v, rotation status %v, want not ok and 0", s, a.metric(t, "secret_rotation_status", `secret="api-key"`))
	}
	putKey("key-3")
	waitFor(t, 5*time.Second, func() bool { return a.file("api-key") == "key-3" && a.status(t)["api-key"].OK })
}

// TestAgentKeepsLastGoodWhileVaultIsDown stops a Vault of the test's own
// for longer than a refresh interval: the file keeps the last good value
// and the status drops to 0; once Vault is back, the status returns to 1.
func TestAgentKeepsLastGoodWhileVaultIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and starts a Vault server")
	}
	srv := vaulttest.Bed(t).StartDevServer(t)
	put := func() {
		t.Helper()
		c := vaulttest.NewClient(t, srv.Addr, srv.RootToken)
		if _, err := c.KVv2("secret").Put(vaulttest.Context(t, 10*time.Second), "tradepulse/mlflow", map[string]any{"MLFLOW_TRACKING_TOKEN": "tok-1"}); err != nil {
			t.Fatal(err)
		}
	}
	put()
	a := startVaultAgent(t, srv.Addr, srv.RootToken, "  - {name: mlflow.env, ref: secret/tradepulse/mlflow, format: env}\n")
	const want = "MLFLOW_TRACKING_TOKEN=tok-1\n"
	waitFor(t, 15*time.Second, func() bool { return a.file("mlflow.env") == want })

	srv.Stop()
	waitFor(t, 10*time.Second, func() bool { return a.metric(t, "secret_rotation_status", `secret="mlflow.env"`) == 0 })
	time.Sleep(2 * time.Second) // two more refresh intervals without Vault
	if got := a.file("mlflow.env"); got != want {
		t.Errorf("while Vault is down the file holds %q, want the last good value", got)
	}

	srv.Start() // a dev server comes back empty: provision it again
	put()
	waitFor(t, 20*time.Second, func() bool { return a.metric(t, "secret_rotation_status", `secret="mlflow.env"`) == 1 })
	if got := a.file("mlflow.env"); got != want {
		t.Errorf("after Vault returned the file holds %q", got)
	}
}

// TestAgentRevokeOnShutdownAgainstVault stops the agent (as the kubelet
// does, by ending its context) while it holds database credentials from
// the test bed's Vault. With revokeOnShutdown (the annotation
// vault-revoke-on-shutdown) the lease is gone from Vault once the agent
// has exited and the credentials no longer log in; without it both live
// on, until their TTL, for whoever still uses them.
func TestAgentRevokeOnShutdownAgainstVault(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent against the Vault test bed")
	}
	bed := vaulttest.Bed(t)
	root := bed.Root(t)
	for _, revoke := range []bool{true, false} {
		t.Run(fmt.Sprintf("revokeOnShutdown=%v", revoke), func(t *testing.T) {
			creds := bed.DBMount + "/creds/" + bed.DBRole(t, time.Minute, 5*time.Minute)
			policy := bed.Policy(t, fmt.Sprintf(`path %q { capabilities = ["read"] }
path "sys/leases/revoke/%s/*" { capabilities = ["update"] }
`, creds, creds))
			a := startVaultAgentWith(t, bed.Addr, bed.Token(t, time.Hour, policy), fmt.Sprintf("revokeOnShutdown: %v", revoke),
				fmt.Sprintf("  - {name: db, ref: %s, format: json}\n", creds))
			waitFor(t, 15*time.Second, func() bool { return a.file("db/password") != "" && a.status(t)["db"].Lease != nil })
			lease := a.status(t)["db"].Lease.ID
			user, pass := a.file("db/username"), a.file("db/password")

			if code := a.stop(); code != 0 {
				t.Fatalf("agent exited %d", code)
			}
			_, lookupErr := root.Sys().LookupWithContext(vaulttest.Context(t, 10*time.Second), lease)
			loginErr := bed.PGLogin(vaulttest.Context(t, 10*time.Second), user, pass)
			if revoke {
				if lookupErr == nil {
					t.Errorf("lease %s is still in Vault after the agent stopped", lease)
				}
				if loginErr == nil {
					t.Error("the credentials still log in after the agent stopped")
				}
				return
			}
			if lookupErr != nil {
				t.Errorf("lease %s is gone from Vault after the agent stopped: %v", lease, lookupErr)
			}
			if loginErr != nil {
				t.Errorf("the credentials no longer log in after the agent stopped: %v", loginErr)
			}
		})
	}
}
