package ctl_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/ctl"
)

// leaseAgent is an agent holding one leased secret "api-key", served by
// the real admin.Handler. replaceErr makes fresh credentials fail after
// the revoke. An agent without a lease is newLeaseAgent with lease "".
type leaseAgent struct {
	mu         sync.Mutex
	secret     admin.SecretStatus
	replaceErr string
}

func newLeaseAgent(t *testing.T, lease string) (*leaseAgent, string) {
	a := &leaseAgent{secret: admin.SecretStatus{Name: "api-key", Ref: "kv/api-key", OK: true, Version: "1", LastSuccess: time.Now()}}
	if lease != "" {
		a.secret.Lease = &admin.LeaseStatus{ID: lease, TTLSeconds: 3600, Expiry: time.Now().Add(time.Hour), Renewable: true}
	}
	srv := httptest.NewServer(admin.Handler(a, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	return a, srv.Listener.Addr().String()
}

func (a *leaseAgent) Status() admin.Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return admin.Status{Backend: "vault", Mode: "sidecar", Ready: true, Secrets: []admin.SecretStatus{a.secret}}
}

func (a *leaseAgent) Refresh(context.Context, string) (admin.RefreshResult, error) {
	return admin.RefreshResult{}, errors.New("not used")
}

func (a *leaseAgent) RevokeLeases(_ context.Context, name string) (admin.RevokeResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if name != "" && name != a.secret.Name {
		return admin.RevokeResult{}, admin.ErrUnknownSecret
	}
	if a.secret.Lease == nil {
		return admin.RevokeResult{}, admin.ErrNoLeases
	}
	rv := admin.Revocation{Secret: a.secret.Name, RevokedLease: a.secret.Lease.ID}
	if a.replaceErr != "" {
		rv.Error = "fetching new credentials failed: " + a.replaceErr
		a.secret.OK, a.secret.Lease, a.secret.LastError = false, nil, a.replaceErr
	} else {
		l := *a.secret.Lease
		l.ID += "-fresh"
		a.secret.Lease, rv.NewLease = &l, l.ID
	}
	return admin.RevokeResult{Revoked: []admin.Revocation{rv}}, nil
}

func TestRevokeReportsEachPod(t *testing.T) {
	needBed(t)
	ns := namespace(t, "keys")
	_, pods := app{annotations: annotated(nil)}.deployment(t, ns, "api", 3)
	setup := func() (*localDialer, []*leaseAgent) {
		d := newLocalDialer()
		var agents []*leaseAgent
		for i, lease := range []string{"kv/lease/a", "", "kv/lease/c"} {
			a, addr := newLeaseAgent(t, lease)
			if i == 2 {
				a.replaceErr = "permission denied"
			}
			d.add(pods[i], addr)
			agents = append(agents, a)
		}
		return d, agents
	}

	t.Run("revoke", func(t *testing.T) {
		d, agents := setup()
		r := run(t, d, nil, "revoke", "-n", ns)
		if !errors.Is(r.err, ctl.ErrFailed) {
			t.Fatalf("want ErrFailed, got:\n%s", r)
		}
		want := "1 of 3 pods failed:\n  " + ns + "/api-7f9c4-2: revoke: agent answered 502 Bad Gateway: secret api-key: fetching new credentials failed: permission denied"
		if r.err.Error() != want {
			t.Errorf("error:\n%s\nwant:\n%s", r.err, want)
		}
		wantOut := []string{
			"NAMESPACE POD SECRET REVOKED-LEASE NEW-LEASE RESULT",
			ns + " api-7f9c4-0 api-key kv/lease/a kv/lease/a-fresh ok: revoked 1 lease; fresh credentials in place (api-key)",
			ns + " api-7f9c4-1 - - - skipped: holds no lease",
			ns + " api-7f9c4-2 api-key kv/lease/c - failed: fetching new credentials failed: permission denied",
		}
		if d := cmp.Diff(wantOut, normalize(r.stdout)); d != "" {
			t.Errorf("stdout (-want +got):\n%s", d)
		}
		if !strings.HasSuffix(r.stderr, "3 pods: 1 ok, 1 failed, 1 skipped\n") {
			t.Errorf("stderr does not end with the summary:\n%s", r.stderr)
		}
		if got := agents[0].Status().Secrets[0].Lease.ID; got != "kv/lease/a-fresh" {
			t.Errorf("agent 0 holds lease %s", got)
		}
	})

	t.Run("dry run reads the leases and revokes none", func(t *testing.T) {
		d, agents := setup()
		r := run(t, d, nil, "revoke", "-n", ns, "--dry-run", "--secret", "api-key")
		if r.err != nil {
			t.Fatalf("dry run failed:\n%s", r)
		}
		wantOut := []string{
			"NAMESPACE POD SECRET REVOKED-LEASE NEW-LEASE RESULT",
			ns + " api-7f9c4-0 api-key kv/lease/a - dry-run: would revoke 1 lease",
			ns + " api-7f9c4-1 - - - skipped: secret \"api-key\" holds no lease",
			ns + " api-7f9c4-2 api-key kv/lease/c - dry-run: would revoke 1 lease",
		}
		if d := cmp.Diff(wantOut, normalize(r.stdout)); d != "" {
			t.Errorf("stdout (-want +got):\n%s", d)
		}
		if posts := d.sent("POST"); len(posts) != 0 {
			t.Errorf("a dry run sent %q", posts)
		}
		for i, a := range agents {
			if l := a.Status().Secrets[0].Lease; l != nil && strings.HasSuffix(l.ID, "-fresh") {
				t.Errorf("agent %d was revoked in a dry run", i)
			}
		}
	})

	t.Run("a secret no pod holds: nothing done is an error", func(t *testing.T) {
		d, _ := setup()
		r := run(t, d, nil, "revoke", "-n", ns, "--secret", "db")
		if !errors.Is(r.err, ctl.ErrFailed) || !strings.Contains(r.err.Error(), "nothing done, every selected pod was skipped") {
			t.Fatalf("want a nothing-done error, got:\n%s", r)
		}
		if !strings.Contains(r.err.Error(), ns+`/api-7f9c4-0: holds no secret "db"`) {
			t.Errorf("the error does not say why:\n%s", r)
		}
		if len(d.requests) != 0 {
			t.Errorf("agents were asked although the pods' config declares no secret db: %q", d.requests)
		}
	})

	t.Run("progress names every pod", func(t *testing.T) {
		d, _ := setup()
		r := run(t, d, nil, "revoke", "-n", ns, "--concurrency", "1")
		var progress []string
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.HasPrefix(l, "[") {
				progress = append(progress, l)
			}
		}
		want := []string{
			"[1/3] " + ns + "/api-7f9c4-0: revoked 1 lease; fresh credentials in place (api-key)",
			"[2/3] " + ns + "/api-7f9c4-1: skipped: holds no lease",
			"[3/3] " + ns + "/api-7f9c4-2: FAILED: revoke: agent answered 502 Bad Gateway: secret api-key: fetching new credentials failed: permission denied",
		}
		if d := cmp.Diff(want, slices.Clip(progress)); d != "" {
			t.Errorf("progress (-want +got):\n%s", d)
		}
	})
}
