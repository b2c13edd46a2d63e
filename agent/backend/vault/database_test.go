package vault_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/vault"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
)

type dbCreds struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// dbSetup makes a database role with the given TTLs and a backend whose
// token may read its credentials and revoke their leases.
func dbSetup(t *testing.T, defaultTTL, maxTTL time.Duration) (*vaulttest.Env, string, *vault.Backend, *logs) {
	bed := vaulttest.Bed(t)
	creds := bed.DBMount + "/creds/" + bed.DBRole(t, defaultTTL, maxTTL)
	b, l := tokenBackend(t, bed, bed.Policy(t, dbPolicy(creds)))
	return bed, creds, b, l
}

func dbPolicy(creds string) string {
	return `path "` + creds + `" { capabilities = ["read"] }
path "sys/leases/revoke/` + creds + `/*" { capabilities = ["update"] }
`
}

// fetchCreds fetches database credentials and checks that they log in.
func fetchCreds(t *testing.T, bed *vaulttest.Env, b *vault.Backend, l *logs, ref string) (backend.Secret, dbCreds) {
	t.Helper()
	sec, err := b.Fetch(ctx(t, 10*time.Second), ref)
	if err != nil {
		t.Fatalf("Fetch(%q): %v", ref, err)
	}
	var c dbCreds
	if err := json.Unmarshal(sec.Data, &c); err != nil || c.Username == "" || c.Password == "" {
		t.Fatalf("credentials are not {username, password}: %v", err)
	}
	l.forbid(c.Password)
	if err := bed.PGLogin(ctx(t, 10*time.Second), c.Username, c.Password); err != nil {
		t.Fatalf("fresh credentials do not log in: %v", err)
	}
	return sec, c
}

// leaseCount lists the leases Vault holds under a credentials path.
func leaseCount(t *testing.T, root *api.Client, creds string) int {
	t.Helper()
	sec, err := root.Logical().ListWithContext(ctx(t, 10*time.Second), "sys/leases/lookup/"+creds+"/")
	if err != nil {
		t.Fatalf("list leases: %v", err)
	}
	if sec == nil {
		return 0
	}
	keys, _ := sec.Data["keys"].([]any)
	return len(keys)
}

// TestDatabaseCredentials follows one lease through its life: issued
// credentials log in; KeepAlive renews them (the same credentials, their
// expiry moving forward, PostgreSQL's VALID UNTIL with it) and returns
// before the max TTL ends; Revoke makes them stop logging in.
func TestDatabaseCredentials(t *testing.T) {
	t.Parallel()
	const defaultTTL, maxTTL = 10 * time.Second, 30 * time.Second
	bed, ref, b, l := dbSetup(t, defaultTTL, maxTTL)
	issued := time.Now()
	sec, creds := fetchCreds(t, bed, b, l, ref)

	lease := sec.Lease
	switch {
	case lease == nil:
		t.Fatal("credentials came without a lease")
	case !strings.HasPrefix(lease.ID, ref+"/") || sec.Version != lease.ID:
		t.Errorf("lease %q, version %q: want a lease under %s as the version", lease.ID, sec.Version, ref)
	case lease.TTL != defaultTTL || !lease.Renewable:
		t.Errorf("lease TTL %s renewable %v, want %s renewable", lease.TTL, lease.Renewable, defaultTTL)
	case lease.Expiry.Before(issued.Add(defaultTTL-time.Second)) || lease.Expiry.After(time.Now().Add(defaultTTL)):
		t.Errorf("lease expiry %s is not %s after the fetch", lease.Expiry, defaultTTL)
	}

	var mu sync.Mutex
	var renewals []backend.Lease
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- b.KeepAlive(ctx(t, 2*maxTTL), *lease, func(l backend.Lease) {
			mu.Lock()
			defer mu.Unlock()
			renewals = append(renewals, l)
		})
	}()

	// Past the first expiry, renewal has kept the same credentials alive:
	// one lease, and the first login still works (PostgreSQL's VALID UNTIL
	// moved with the lease).
	time.Sleep(time.Until(lease.Expiry.Add(2 * time.Second)))
	if err := bed.PGLogin(ctx(t, 10*time.Second), creds.Username, creds.Password); err != nil {
		t.Errorf("credentials do not log in past their first expiry: %v", err)
	}
	if n := leaseCount(t, bed.Root(t), ref); n != 1 {
		t.Errorf("%d leases under %s, want 1", n, ref)
	}

	err := <-done
	returned := time.Now()
	if err != nil {
		t.Fatalf("KeepAlive: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("KeepAlive returned after %s with %d renewals", returned.Sub(start).Round(time.Millisecond), len(renewals))
	if len(renewals) < 2 {
		t.Fatalf("%d renewals in %s, want at least 2", len(renewals), returned.Sub(start))
	}
	for i, r := range renewals {
		if r.ID != lease.ID {
			t.Errorf("renewal %d reports lease %q, want %q", i, r.ID, lease.ID)
		}
		if i > 0 && r.Expiry.Before(renewals[i-1].Expiry.Add(-time.Second)) {
			t.Errorf("renewal %d moved the expiry back: %s after %s", i, r.Expiry, renewals[i-1].Expiry)
		}
	}
	last := renewals[len(renewals)-1]
	if !last.Expiry.After(lease.Expiry.Add(defaultTTL / 2)) {
		t.Errorf("renewals did not move the expiry forward: %s, issued with %s", last.Expiry, lease.Expiry)
	}
	if maxEnd := issued.Add(maxTTL); !returned.Before(maxEnd) || last.Expiry.After(maxEnd.Add(2*time.Second)) {
		t.Errorf("KeepAlive returned at %s, last expiry %s; the max TTL ends at %s", returned, last.Expiry, maxEnd)
	}

	// Revoke takes effect at once: credentials fetched now stop logging in.
	sec2, creds2 := fetchCreds(t, bed, b, l, ref)
	if err := b.Revoke(ctx(t, 10*time.Second), sec2.Lease.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	err = bed.PGLogin(ctx(t, 10*time.Second), creds2.Username, creds2.Password)
	if err == nil {
		t.Fatal("revoked credentials still log in")
	}
	noLeak(t, err, creds2.Password)
	if err := b.Revoke(ctx(t, 10*time.Second), lease.ID); err != nil {
		t.Fatalf("Revoke of the first lease: %v", err)
	}
	if n := leaseCount(t, bed.Root(t), ref); n != 0 {
		t.Errorf("%d leases left after Revoke, want 0", n)
	}
}

// TestKeepAliveLeaseRevokedElsewhere: an operator revokes the lease with
// the vault CLI; KeepAlive notices at its next renewal and reports it gone
// instead of retrying until the lease's end.
func TestKeepAliveLeaseRevokedElsewhere(t *testing.T) {
	t.Parallel()
	bed, ref, b, l := dbSetup(t, 6*time.Second, 2*time.Minute)
	sec, _ := fetchCreds(t, bed, b, l, ref)
	renewed := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		done <- b.KeepAlive(ctx(t, time.Minute), *sec.Lease, func(backend.Lease) { renewed <- struct{}{} })
	}()
	<-renewed
	err := bed.Root(t).Sys().RevokeWithOptionsWithContext(ctx(t, 10*time.Second), &api.RevokeOptions{LeaseID: sec.Lease.ID, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, backend.ErrNotFound) {
			t.Fatalf("KeepAlive after revocation: %v, want ErrNotFound", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("KeepAlive did not notice the revocation within 20s")
	}
}

// TestKeepAliveCancel: KeepAlive returns ctx.Err() when its context ends.
func TestKeepAliveCancel(t *testing.T) {
	t.Parallel()
	bed, ref, b, l := dbSetup(t, time.Minute, 2*time.Minute)
	sec, _ := fetchCreds(t, bed, b, l, ref)
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.KeepAlive(c, *sec.Lease, func(backend.Lease) {}) }()
	// The first renewal is 40 s away (2/3 of the minute): cancel before.
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("KeepAlive after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("KeepAlive did not return after cancel")
	}
}

// TestLeasedSecretVersion: Version never issues credentials.
func TestLeasedSecretVersion(t *testing.T) {
	t.Parallel()
	bed, ref, b, _ := dbSetup(t, time.Minute, 2*time.Minute)
	_, err := b.Version(ctx(t, 10*time.Second), ref)
	if !errors.Is(err, vault.ErrNotVersioned) || backend.FailsClosed(err) {
		t.Fatalf("Version of leased credentials: %v, want ErrNotVersioned (transient)", err)
	}
	if n := leaseCount(t, bed.Root(t), ref); n != 0 {
		t.Errorf("Version issued %d leases", n)
	}
}

// TestRevokeUnknownLease: revoking a lease Vault does not know is not an
// error: it is as revoked as it can be.
func TestRevokeUnknownLease(t *testing.T) {
	t.Parallel()
	_, ref, b, _ := dbSetup(t, time.Minute, 2*time.Minute)
	if err := b.Revoke(ctx(t, 10*time.Second), ref+"/nosuchlease"); err != nil {
		t.Fatalf("Revoke of an unknown lease: %v", err)
	}
}

// TestUnknownDatabaseRole: Vault rejects credentials for a role that does
// not exist; that fails closed.
func TestUnknownDatabaseRole(t *testing.T) {
	t.Parallel()
	bed := vaulttest.Bed(t)
	ref := bed.DBMount + "/creds/" + vaulttest.Unique("nosuchrole-")
	b, _ := tokenBackend(t, bed, bed.Policy(t, dbPolicy(ref)))
	_, err := b.Fetch(ctx(t, 10*time.Second), ref)
	if !backend.FailsClosed(err) {
		t.Fatalf("Fetch of an unknown role: %v, want a fail-closed error", err)
	}
}
