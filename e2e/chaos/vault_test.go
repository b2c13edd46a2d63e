package chaos

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/faultproxy"
)

// outage is a fault of Vault, or of the way to it, held for a while.
type outage struct {
	fault string
	// begin makes the fault, end undoes it; end also runs at cleanup.
	begin, end func(ctx context.Context) error
	last       time.Duration
	// silent: the agents need not report errors (a slow answer is not
	// one).
	silent bool
}

// What every outage must leave intact; reported says the agents must
// report it too.
func outageHolds(reported bool) string {
	report := "the agents report the outage; "
	if !reported {
		report = ""
	}
	return "files keep the last good value throughout; the app never restarts; " + report +
		"afterwards a new value reaches every pod ≤ 60 s, the app logs into PostgreSQL, status is OK and no lease is left behind"
}

// survive runs an outage against a fleet of two pods and checks
// outageHolds.
func (s *suite) survive(t *testing.T, o outage) {
	r := s.record(t, o.fault, outageHolds(!o.silent))
	ctx := vaulttest.Context(t, 12*time.Minute)
	f := s.newFleet(t, ctx, strings.ToLower(strings.Fields(o.fault)[0]), 2, nil)
	pods, before := f.running, f.users
	errsBefore := agentErrors(ctx, pods)

	wctx, stopWatch := context.WithCancel(ctx)
	type watched struct {
		samples int
		bad     []string
	}
	done := make(chan watched, 1)
	go func() {
		n, bad := f.watch(wctx, pods, f.value)
		done <- watched{n, bad}
	}()
	ended := false
	end := func() {
		if !ended {
			ended = true
			if err := o.end(context.Background()); err != nil {
				t.Errorf("ending the fault: %v", err)
			}
		}
	}
	t.Cleanup(end)
	if err := o.begin(ctx); err != nil {
		stopWatch()
		t.Fatalf("making the fault: %v", err)
	}
	time.Sleep(o.last)
	errsDuring := agentErrors(ctx, pods) - errsBefore
	end()
	stopWatch()
	w := <-done
	r.saw(t, "held %s: files kept in %d/%d samples", o.last, w.samples-len(w.bad), w.samples)
	for i, b := range w.bad {
		if i == 3 {
			t.Errorf("… and %d more", len(w.bad)-3)
			break
		}
		t.Errorf("during the fault: %s", b)
	}
	if w.samples == 0 {
		t.Error("no sample of the files during the fault")
	}
	if o.silent {
		r.saw(t, "%.0f errors reported", errsDuring)
	} else if errsDuring == 0 {
		t.Error("the agents reported no failed refresh or renewal during the fault: an operator's alert would not fire")
	} else {
		r.saw(t, "%.0f failed refreshes/renewals reported", errsDuring)
	}
	if n := f.appRestarts(t, ctx); n != 0 {
		t.Errorf("the app restarted %d times", n)
	}
	took := f.waitAPI(t, ctx, pods, time.Minute)
	after, dbTook := f.waitDB(t, ctx, pods, 90*time.Second)
	r.saw(t, "after: new value in %s, PostgreSQL login in %s (%s)", took, dbTook, sameOrNew(before, after))
	f.waitStatusOK(t, ctx, time.Minute)
	f.waitNoLeftovers(t, ctx, time.Minute)
}

func sameOrNew(before, after []string) string {
	if strings.Join(before, ",") == strings.Join(after, ",") {
		return "same credentials"
	}
	return "new credentials"
}

func TestVaultRestarted(t *testing.T) {
	s := need(t)
	s.survive(t, outage{
		fault: "Vault restarted (file storage, unsealed again)",
		begin: func(context.Context) error { s.vault.Stop(); return nil },
		end:   s.vault.Start,
		last:  15 * time.Second,
	})
}

func TestVaultSealed(t *testing.T) {
	s := need(t)
	s.survive(t, outage{
		fault: "Vault sealed for 60 s",
		begin: s.vault.Seal,
		end:   s.vault.Unseal,
		last:  60 * time.Second,
	})
}

func TestVaultPartitioned(t *testing.T) {
	s := need(t)
	s.survive(t, outage{
		fault: "Vault unreachable from the pods for 2 min (packets dropped on the host)",
		begin: func(context.Context) error { return partition(s.proxy.Addr(), true) },
		end:   func(context.Context) error { return partition(s.proxy.Addr(), false) },
		last:  2 * time.Minute,
	})
}

func (s *suite) proxied(fault faultproxy.Fault) (begin, end func(context.Context) error) {
	return func(context.Context) error { s.proxy.Set(fault); return nil },
		func(context.Context) error { s.proxy.Set(faultproxy.Fault{}); return nil }
}

func TestVaultAnswers500(t *testing.T) {
	s := need(t)
	begin, end := s.proxied(faultproxy.Fault{Status: http.StatusInternalServerError})
	s.survive(t, outage{fault: "Vault answers 500 for 30 s", begin: begin, end: end, last: 30 * time.Second})
}

func TestVaultAnswers429(t *testing.T) {
	s := need(t)
	begin, end := s.proxied(faultproxy.Fault{Status: http.StatusTooManyRequests})
	s.survive(t, outage{fault: "Vault answers 429 (rate limited) for 30 s", begin: begin, end: end, last: 30 * time.Second})
}

func TestVaultSlow(t *testing.T) {
	s := need(t)
	begin, end := s.proxied(faultproxy.Fault{Delay: 3 * time.Second})
	s.survive(t, outage{fault: "Vault answers after 3 s for 30 s", begin: begin, end: end, last: 30 * time.Second, silent: true})
}

// PostgreSQL restarted while leases are held: the credentials stay valid
// (the roles live in the database), so the app logs in again with the
// same ones and nothing is re-issued.
func TestPostgreSQLRestarted(t *testing.T) {
	s := need(t)
	r := s.record(t, "PostgreSQL restarted while leases are held",
		"the app logs in again with the same credentials; no lease re-issued or left behind")
	ctx := vaulttest.Context(t, 6*time.Minute)
	f := s.newFleet(t, ctx, "postgres", 2, nil)
	pods, before := f.running, f.users
	start := time.Now()
	if out, err := exec.CommandContext(ctx, filepath.Join(bed.ModuleRoot(), "hack/vault-bed.sh"), "restart-pg").CombinedOutput(); err != nil {
		t.Fatalf("hack/vault-bed.sh restart-pg: %v\n%s", err, out)
	}
	after, took := f.waitDB(t, ctx, pods, time.Minute)
	r.saw(t, "restart took %s; app logged in %s later (%s)", time.Since(start).Round(100*time.Millisecond)-took, took, sameOrNew(before, after))
	if sameOrNew(before, after) != "same credentials" {
		t.Errorf("credentials changed across a database restart: %v → %v", before, after)
	}
	f.waitStatusOK(t, ctx, time.Minute)
	// The init containers' leases are revoked after the agents' 30 s grace.
	f.waitNoLeftovers(t, ctx, time.Minute)
}

// The operator revokes every token the agents logged in with (and with
// them their database leases): the agents log in again and the app gets
// new credentials; the old PostgreSQL roles are gone.
func TestAgentTokenRevoked(t *testing.T) {
	s := need(t)
	r := s.record(t, "the agents' Vault tokens revoked by an operator",
		"the old database roles are dropped; the agents log in again; the app logs in with new credentials ≤ 60 s; files kept")
	ctx := vaulttest.Context(t, 6*time.Minute)
	f := s.newFleet(t, ctx, "token", 2, nil)
	pods, before := f.running, f.users
	v := s.Bed.Vault
	if err := v.Root.Sys().RevokePrefixWithContext(ctx, v.AuthPath+"/login"); err != nil {
		t.Fatalf("vault lease revoke -prefix %s/login: %v", v.AuthPath, err)
	}
	after, took := f.waitDB(t, ctx, pods, time.Minute)
	for _, u := range before {
		for _, a := range after {
			if a == u {
				t.Errorf("the app still logs in as %s, whose token was revoked", u)
			}
		}
		if s.roleExists(t, ctx, u) {
			t.Errorf("PostgreSQL role %s outlived the revoked token", u)
		}
	}
	if err := apiHeld(ctx, pods, f.value); err != nil {
		t.Errorf("files after the revocation: %v", err)
	}
	r.saw(t, "new credentials %s after the revocation; old roles dropped", took)
	newValue := f.waitAPI(t, ctx, pods, time.Minute)
	r.saw(t, "a new value reached every pod in %s", newValue)
	f.waitStatusOK(t, ctx, time.Minute)
}

// The operator removes the pods' Vault role and revokes their tokens: the
// pods may no longer read anything, so they fail closed; once the role is
// back, they recover on their own.
func TestVaultRoleRemoved(t *testing.T) {
	s := need(t)
	r := s.record(t, "the pods' Vault role removed (and their tokens revoked)",
		"fail closed: database roles dropped, the agents report denied and remove the files they may no longer read (KV at its next poll; database credentials at their next renewal); the app keeps running; with the role back, everything returns ≤ 90 s")
	ctx := vaulttest.Context(t, 6*time.Minute)
	f := s.newFleet(t, ctx, "role", 2, nil)
	pods, before := f.running, f.users
	v := s.Bed.Vault
	rolePath := v.AuthPath + "/role/" + v.Role
	role, err := v.Root.Logical().ReadWithContext(ctx, rolePath)
	if err != nil || role == nil {
		t.Fatalf("read role %s: %v", rolePath, err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if _, err := v.Root.Logical().WriteWithContext(context.Background(), rolePath, role.Data); err != nil {
				t.Errorf("restore role %s: %v", rolePath, err)
			}
		}
	}
	t.Cleanup(restore)
	if _, err := v.Root.Logical().DeleteWithContext(ctx, rolePath); err != nil {
		t.Fatal(err)
	}
	if err := v.Root.Sys().RevokePrefixWithContext(ctx, v.AuthPath+"/login"); err != nil {
		t.Fatal(err)
	}
	for _, u := range before {
		if s.roleExists(t, ctx, u) {
			t.Errorf("PostgreSQL role %s outlived the revoked token", u)
		}
	}
	var files map[string][]string
	err = pollFor(ctx, time.Minute, func() bool {
		files = fileNames(ctx, pods)
		for _, names := range files {
			if slices.Contains(names, "api") {
				return false
			}
		}
		return true
	})
	r.saw(t, "files with the role gone: %v", files)
	if err != nil {
		t.Errorf("the api file is still there a minute after the role was removed: %v", files)
	}
	if n := f.appRestarts(t, ctx); n != 0 {
		t.Errorf("the app restarted %d times", n)
	}
	restore()
	took := f.waitAPI(t, ctx, pods, 90*time.Second)
	_, dbTook := f.waitDB(t, ctx, pods, 90*time.Second)
	r.saw(t, "role back: files in %s, PostgreSQL login in %s", took, dbTook)
	f.waitStatusOK(t, ctx, time.Minute)
}

// roleExists asks PostgreSQL itself.
func (s *suite) roleExists(t *testing.T, ctx context.Context, role string) bool {
	t.Helper()
	ok, err := s.pg.RoleExists(ctx, role)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func pollFor(ctx context.Context, timeout time.Duration, ok func() bool) error {
	return bed.Wait(ctx, timeout, func() (bool, error) { return ok(), nil })
}
