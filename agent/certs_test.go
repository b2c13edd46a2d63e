package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/agent/metrics"
)

// TestCertRenewAt is the schedule's property test, after Vault's
// TestCalcSleepPeriod: for any validity, time obtained and jitter, the
// renewal is at or before 2/3 of the validity and within its last third
// less a tenth — unless that is less than minCertRenewDelay after
// obtaining it, which is the floor — and never before it was obtained.
func TestCertRenewAt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range 100_000 {
		life := time.Duration(r.Int64N(int64(48 * time.Hour)))
		v := backend.Validity{NotBefore: base, NotAfter: base.Add(life)}
		obtained := base.Add(time.Duration(r.Int64N(int64(life) + 1)))
		jitter := time.Duration(r.Int64N(int64(life/5) + 1)) // up to twice what certJitter draws
		if i%2 == 0 {
			jitter = certJitter(v)
		}
		at := certRenewAt(v, obtained, jitter)
		twoThirds := v.NotBefore.Add(life * 2 / 3)
		floor := obtained.Add(minCertRenewDelay)
		switch {
		case at.Before(obtained):
			t.Fatalf("life %s obtained +%s: renews at +%s, before it was obtained", life, obtained.Sub(base), at.Sub(base))
		case at.Equal(floor):
		case at.After(twoThirds):
			t.Fatalf("life %s jitter %s: renews at +%s, after 2/3 (+%s)", life, jitter, at.Sub(base), twoThirds.Sub(base))
		case at.Before(v.NotBefore.Add(life*2/3 - life/10)):
			t.Fatalf("life %s jitter %s: renews at +%s, earlier than 2/3 less a tenth", life, jitter, at.Sub(base))
		}
		if floor.Before(v.NotAfter) && !at.Before(v.NotAfter) {
			t.Fatalf("life %s obtained +%s: renews at +%s, not before it expires", life, obtained.Sub(base), at.Sub(base))
		}
	}
}

// A 30 s certificate from Vault (NotBefore backdated 30 s) obtained now is
// renewed 4–10 s from now: 2/3 of its 60 s validity, less up to 6 s.
func TestCertRenewAtVaultBackdating(t *testing.T) {
	now := time.Now()
	v := backend.Validity{NotBefore: now.Add(-30 * time.Second), NotAfter: now.Add(30 * time.Second)}
	for range 1000 {
		d := certRenewAt(v, now, certJitter(v)).Sub(now)
		if d < 4*time.Second || d > 10*time.Second {
			t.Fatalf("renews %s after issue, want 4s–10s", d)
		}
	}
}

// fakeIssuer issues made-up certificates valid from 30 s ago (as Vault
// backdates) for ttl, or fails with err. The loop's logic only; the
// agent against Vault's real PKI engine is in agent/agentcmd.
type fakeIssuer struct {
	*fakeBackend
	ttl    time.Duration
	issued int
	err    error
	reqs   []backend.CertRequest
}

func (f *fakeIssuer) Issue(_ context.Context, ref string, req backend.CertRequest) (backend.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	if f.err != nil {
		return backend.Secret{}, fmt.Errorf("certificate %q: %w", ref, f.err)
	}
	f.issued++
	now := time.Now()
	data, _ := json.Marshal(map[string]string{
		backend.CertFile: fmt.Sprintf("CERT-%d", f.issued),
		backend.KeyFile:  fmt.Sprintf("KEY-%d-%s", f.issued, sentinel),
		backend.CAFile:   "CA",
	})
	return backend.Secret{Data: data, Version: fmt.Sprintf("serial-%d", f.issued),
		Validity: &backend.Validity{NotBefore: now.Add(-30 * time.Second), NotAfter: now.Add(f.ttl)}}, nil
}

func (f *fakeIssuer) set(issued int, err error) (int, []backend.CertRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
	return f.issued, slices.Clone(f.reqs)
}

func (f *fakeIssuer) count() int { n, _ := f.set(0, f.err); return n }

func certHarness(t *testing.T, ttl time.Duration) (*harness, *fakeIssuer) {
	t.Helper()
	f := &fakeIssuer{fakeBackend: newFake(), ttl: ttl}
	h := newHarness(t, f, f.fakeBackend, func(c *config.Config) {
		c.Backend.Type = config.BackendVault
		c.Secrets = []config.Secret{{Name: "web-tls", Ref: "pki/issue/web", Certificate: &config.Certificate{
			CommonName: "web.trading.svc", AltNames: []string{"web"}, IPSANs: []string{"127.0.0.1"}, TTL: config.Duration(ttl)}}}
		c.Normalize(nil)
	})
	return h, f
}

func (h *harness) hasSeries(name, secret string) bool {
	h.t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if f.GetName() == name && l.GetName() == "secret" && l.GetValue() == secret {
					return true
				}
			}
		}
	}
	return false
}

// TestCertificateReissuedAtTwoThirds: a certificate is not polled (a
// poll would issue one), the next is issued at about 2/3 of its validity
// with the request as configured, written in one swap, and the app told.
func TestCertificateReissuedAtTwoThirds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = time.Hour
		h, f := certHarness(t, ttl)
		start := time.Now()
		stop := h.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		h.mustRead("web-tls/cert.pem", "CERT-1")
		h.mustRead("web-tls/key.pem", "KEY-1-"+sentinel)
		h.mustRead("web-tls/ca.pem", "CA")
		notified := h.trigger.count()
		if got, want := h.gauge("secret_certificate_expiry_timestamp_seconds", "web-tls"), float64(start.Add(ttl).Unix()); got != want {
			t.Errorf("expiry gauge %v, want %v", got, want)
		}

		life := ttl + 30*time.Second
		renew := start.Add(-30 * time.Second).Add(life * 2 / 3)
		time.Sleep(time.Until(renew.Add(-life/10 - time.Second)))
		synctest.Wait()
		if n := f.count(); n != 1 {
			t.Fatalf("%d certificates issued before the renewal window (the refresh interval is 1m): polled", n)
		}
		time.Sleep(time.Until(renew.Add(time.Second)))
		synctest.Wait()
		n, reqs := f.set(0, nil)
		if n != 2 {
			t.Fatalf("%d certificates issued by 2/3 of the validity, want 2", n)
		}
		h.mustRead("web-tls/cert.pem", "CERT-2")
		h.mustRead("web-tls/key.pem", "KEY-2-"+sentinel)
		if h.trigger.count() != notified+1 {
			t.Errorf("app told %d times for one new certificate", h.trigger.count()-notified)
		}
		want := backend.CertRequest{CommonName: "web.trading.svc", DNSNames: []string{"web"}, IPAddresses: []string{"127.0.0.1"}, TTL: ttl}
		if !reflect.DeepEqual(reqs[1], want) {
			t.Errorf("request %+v, want %+v", reqs[1], want)
		}
		if strings.Contains(h.logs.String(), sentinel) {
			t.Errorf("logs hold the key:\n%s", h.logs.String())
		}
	})
}

// TestCertificateKeptUntilExpiryThenRemoved: issuing fails (denied, as a
// role refusing the name): the certificate stays, status 0, until its
// NotAfter; then certificate, key and chain go, the expiry series with
// them; once issuing works again, a new one is written within the backoff.
func TestCertificateKeptUntilExpiryThenRemoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 10 * time.Minute
		h, f := certHarness(t, ttl)
		start := time.Now()
		stop := h.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		h.mustRead("web-tls/cert.pem", "CERT-1")
		f.set(0, backend.ErrDenied)

		time.Sleep(time.Until(start.Add(ttl - 5*time.Second)))
		synctest.Wait()
		h.mustRead("web-tls/cert.pem", "CERT-1")
		h.mustRead("web-tls/key.pem", "KEY-1-"+sentinel)
		if got := h.gauge("secret_rotation_status", "web-tls"); got != 0 {
			t.Errorf("secret_rotation_status %v while issuing fails, want 0", got)
		}
		if h.refreshes("web-tls", metrics.ResultDenied) < 3 {
			t.Errorf("%v denied attempts before expiry, want retries with backoff", h.refreshes("web-tls", metrics.ResultDenied))
		}

		time.Sleep(time.Until(start.Add(ttl + time.Second)))
		synctest.Wait()
		for _, f := range []string{"cert.pem", "key.pem", "ca.pem"} {
			if _, ok := h.read("web-tls/" + f); ok {
				t.Errorf("web-tls/%s still there after the certificate expired", f)
			}
		}
		if h.hasSeries("secret_certificate_expiry_timestamp_seconds", "web-tls") {
			t.Error("expiry series kept with no certificate on the volume")
		}
		st := h.agent.Status().Secrets[0]
		if st.OK || !strings.Contains(st.LastError, "expired") {
			t.Errorf("status %+v, want failed saying the certificate expired", st)
		}

		f.set(0, nil)
		time.Sleep(backoffMax + time.Second)
		synctest.Wait()
		h.mustRead("web-tls/cert.pem", "CERT-2")
		if got := h.gauge("secret_rotation_status", "web-tls"); got != 1 {
			t.Errorf("secret_rotation_status %v after a new certificate, want 1", got)
		}
	})
}

// TestCertificateResumedNotReissued: a sidecar that finds the init
// container's certificate keeps it until its renewal time.
func TestCertificateResumedNotReissued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, f := certHarness(t, time.Hour)
		if err := h.agent.RunInit(context.Background()); err != nil {
			t.Fatal(err)
		}
		sidecar := New(Options{Config: h.agent.cfg, Backend: f, Volume: h.agent.volume, Metrics: metrics.New(prometheus.NewRegistry()), Mode: "sidecar"})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- sidecar.RunSidecar(ctx) }()
		synctest.Wait()
		if n := f.count(); n != 1 || !sidecar.Ready() {
			t.Errorf("%d certificates issued, ready %v: want the init container's kept", n, sidecar.Ready())
		}
		st := sidecar.Status().Secrets[0]
		if c := st.Certificate; st.Version != "serial-1" || c == nil || !c.RenewAt.After(time.Now()) || !c.NotAfter.After(c.RenewAt) {
			t.Errorf("sidecar status %+v (certificate %+v), want serial-1 due for renewal before it expires", st, c)
		}
		cancel()
		<-done
	})
}
