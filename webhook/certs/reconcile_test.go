package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func testPolicy() Policy {
	return Policy{Hosts: []string{"svc.ns.svc", "svc.ns.svc.cluster.local", "127.0.0.1"}}.WithDefaults()
}

func mustReconcile(t *testing.T, b Bundle, now time.Time, p Policy) Result {
	t.Helper()
	r, err := Reconcile(b, now, p)
	if err != nil {
		t.Fatalf("Reconcile at %s: %v", now, err)
	}
	return r
}

func leafOf(t *testing.T, b Bundle) *x509.Certificate {
	t.Helper()
	pair, err := b.ServingCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf
}

func caSubjects(t *testing.T, b Bundle) []string {
	t.Helper()
	certs, err := parseCertificates(b.CACerts)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range certs {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

// verifyServing checks what an API server checks: the chain to the caBundle
// and the host name, at now.
func verifyServing(t *testing.T, leaf *x509.Certificate, caBundle []byte, host string, now time.Time) error {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caBundle) {
		t.Fatal("caBundle holds no certificate")
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host, CurrentTime: now})
	return err
}

func TestReconcileFirstStart(t *testing.T) {
	p := testPolicy()
	r := mustReconcile(t, Bundle{}, t0, p)
	if !r.Changed {
		t.Fatal("an empty bundle must change")
	}
	if diff := cmp.Diff([]string{"created ca", "issued serving certificate: none stored"}, r.Reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	leaf := leafOf(t, r.Bundle)
	for _, h := range p.Hosts {
		if err := verifyServing(t, leaf, r.Bundle.CACerts, h, t0); err != nil {
			t.Errorf("serving certificate for %s: %v", h, err)
		}
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("serving key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	if got, want := leaf.NotAfter, t0.Add(DefaultServingValidity); !got.Equal(want) {
		t.Errorf("serving NotAfter = %s, want %s", got, want)
	}
	cas, _ := parseCertificates(r.Bundle.CACerts)
	if got, want := cas[0].NotAfter, t0.Add(DefaultCAValidity); !got.Equal(want) {
		t.Errorf("CA NotAfter = %s, want %s", got, want)
	}
	again := mustReconcile(t, r.Bundle, t0.Add(time.Hour), p)
	if again.Changed {
		t.Errorf("a current bundle changed: %v", again.Reasons)
	}
	if !bytes.Equal(r.Bundle.CACerts, FromSecretData(r.Bundle.SecretData()).CACerts) {
		t.Error("secret data round trip lost the caBundle")
	}
}

func TestReconcileTable(t *testing.T) {
	p := testPolicy()
	base := mustReconcile(t, Bundle{}, t0, p).Bundle
	tests := []struct {
		name        string
		bundle      func() Bundle
		policy      func(Policy) Policy
		at          time.Time
		wantReasons []string
		wantCA      bool // the CA set is kept unchanged
	}{
		{
			name:   "current bundle is kept",
			bundle: func() Bundle { return base },
			at:     t0.Add(59 * 24 * time.Hour),
			wantCA: true,
		},
		{
			name:        "serving certificate renewed with 30 days left",
			bundle:      func() Bundle { return base },
			at:          t0.Add(60*24*time.Hour + time.Second),
			wantReasons: []string{"issued serving certificate: due for renewal"},
			wantCA:      true,
		},
		{
			name:        "hosts changed",
			bundle:      func() Bundle { return base },
			policy:      func(p Policy) Policy { p.Hosts = append(p.Hosts, "other.ns.svc"); return p },
			at:          t0.Add(time.Hour),
			wantReasons: []string{"issued serving certificate: hosts changed"},
			wantCA:      true,
		},
		{
			name:        "serving pair unreadable",
			bundle:      func() Bundle { b := base; b.Key = []byte("garbage"); return b },
			at:          t0.Add(time.Hour),
			wantReasons: []string{"issued serving certificate: stored pair unreadable"},
			wantCA:      true,
		},
		{
			name: "clock moved back behind the serving certificate",
			bundle: func() Bundle {
				later := p
				later.Hosts = append(slices.Clone(p.Hosts), "new.ns.svc")
				return mustReconcile(t, base, t0.Add(2*time.Hour), later).Bundle
			},
			policy:      func(p Policy) Policy { p.Hosts = append(slices.Clone(p.Hosts), "new.ns.svc"); return p },
			at:          t0.Add(time.Hour),
			wantReasons: []string{"issued serving certificate: not yet valid"},
			wantCA:      true,
		},
		{
			// Nothing else can sign, so the new CA signs at once.
			name:        "ca key lost: new ca, old one still trusted",
			bundle:      func() Bundle { b := base; b.CAKeys = nil; return b },
			at:          t0.Add(time.Hour),
			wantReasons: []string{"created ca", "issued serving certificate: moving to the current ca"},
		},
		{
			name: "unreadable ca replaced",
			bundle: func() Bundle {
				b := base
				b.CACerts = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
				return b
			},
			at:          t0.Add(time.Hour),
			wantReasons: []string{"dropped unreadable ca entries", "created ca", "issued serving certificate: moving to the current ca"},
		},
		{
			name:        "everything expired",
			bundle:      func() Bundle { return base },
			at:          t0.Add(DefaultCAValidity + time.Hour),
			wantReasons: []string{"dropped expired ca", "created ca", "issued serving certificate: due for renewal"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol := p
			if tc.policy != nil {
				pol = tc.policy(p)
			}
			in := tc.bundle()
			r := mustReconcile(t, in, tc.at, pol)
			if diff := cmp.Diff(tc.wantReasons, r.Reasons); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
			if got, want := r.Changed, len(tc.wantReasons) > 0; got != want {
				t.Errorf("Changed = %v, want %v", got, want)
			}
			if keptCA := bytes.Equal(r.Bundle.CACerts, base.CACerts); keptCA != tc.wantCA {
				t.Errorf("CA kept = %v, want %v", keptCA, tc.wantCA)
			}
			for _, h := range pol.Hosts {
				if err := verifyServing(t, leafOf(t, r.Bundle), r.Bundle.CACerts, h, tc.at); err != nil {
					t.Errorf("result does not serve %s: %v", h, err)
				}
			}
			if again := mustReconcile(t, r.Bundle, tc.at, pol); again.Changed {
				t.Errorf("second reconcile changed again: %v", again.Reasons)
			}
		})
	}
}

func TestCARotationOverlaps(t *testing.T) {
	p := testPolicy()
	rotateAt := t0.Add(p.CAValidity - p.CARotateBefore + time.Second)
	b := mustReconcile(t, Bundle{}, t0, p).Bundle
	// a serving certificate renewed the day before the rotation
	b = mustReconcile(t, b, rotateAt.Add(-24*time.Hour), p).Bundle
	oldCA := caSubjects(t, b)
	oldLeaf := leafOf(t, b)

	r := mustReconcile(t, b, rotateAt, p)
	if diff := cmp.Diff([]string{"started ca rotation"}, r.Reasons); diff != "" {
		t.Fatalf("reasons (-want +got):\n%s", diff)
	}
	subjects := caSubjects(t, r.Bundle)
	if len(subjects) != 2 || subjects[1] != oldCA[0] {
		t.Fatalf("caBundle = %v, want [new, %s]", subjects, oldCA[0])
	}
	if !leafOf(t, r.Bundle).Equal(oldLeaf) {
		t.Error("serving certificate moved to the new CA before it propagated")
	}
	if want := rotateAt.Add(p.PropagationDelay); !r.NextCheck.Equal(want) {
		t.Errorf("NextCheck = %s, want the end of propagation %s", r.NextCheck, want)
	}

	moved := mustReconcile(t, r.Bundle, r.NextCheck, p)
	if diff := cmp.Diff([]string{"issued serving certificate: moving to the current ca"}, moved.Reasons); diff != "" {
		t.Fatalf("reasons (-want +got):\n%s", diff)
	}
	if err := verifyServing(t, leafOf(t, moved.Bundle), []byte(firstPEM(t, moved.Bundle.CACerts)), p.Hosts[0], r.NextCheck); err != nil {
		t.Errorf("serving certificate is not signed by the new CA: %v", err)
	}
	if got := caSubjects(t, moved.Bundle); len(got) != 2 {
		t.Errorf("old CA left the bundle before it expired: %v", got)
	}

	expired := mustReconcile(t, moved.Bundle, t0.Add(p.CAValidity), p)
	if diff := cmp.Diff([]string{"dropped expired ca", "issued serving certificate: due for renewal"}, expired.Reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	if got := caSubjects(t, expired.Bundle); len(got) != 1 || got[0] == oldCA[0] {
		t.Errorf("caBundle after the old CA expired = %v", got)
	}
}

func firstPEM(t *testing.T, data []byte) string {
	t.Helper()
	s := string(data)
	end := "-----END CERTIFICATE-----\n"
	i := strings.Index(s, end)
	if i < 0 {
		t.Fatal("no PEM certificate")
	}
	return s[:i+len(end)]
}

// TestLifetimeWalk follows twelve years as a replica's loop would, waking at
// every NextCheck and at least monthly, and checks the two properties that
// keep admission working: the served certificate always verifies against the
// caBundle that API servers had before this step (they lag), and nothing
// changes before NextCheck.
func TestLifetimeWalk(t *testing.T) {
	p := testPolicy()
	r := mustReconcile(t, Bundle{}, t0, p)
	published := r.Bundle.CACerts
	rotations, renewals := 0, 0
	end := t0.Add(12 * 365 * 24 * time.Hour)
	for now := t0; now.Before(end); {
		next := now.Add(30 * 24 * time.Hour)
		if r.NextCheck.Before(next) {
			next = r.NextCheck
		}
		if early := mustReconcile(t, r.Bundle, next.Add(-time.Second), p); early.Changed {
			t.Fatalf("at %s, before NextCheck %s: changed: %v", next.Add(-time.Second), r.NextCheck, early.Reasons)
		}
		now = next
		r = mustReconcile(t, r.Bundle, now, p)
		for _, why := range r.Reasons {
			switch why {
			case "started ca rotation":
				rotations++
			case "issued serving certificate: due for renewal":
				renewals++
			}
		}
		if err := verifyServing(t, leafOf(t, r.Bundle), published, p.Hosts[1], now); err != nil {
			t.Fatalf("at %s (%v): served certificate fails against the previously published caBundle: %v", now, r.Reasons, err)
		}
		published = r.Bundle.CACerts
	}
	if rotations < 2 || renewals < 40 {
		t.Errorf("walk saw %d CA rotations and %d renewals; want at least 2 and 40", rotations, renewals)
	}
}

func TestPolicyValidate(t *testing.T) {
	base := testPolicy()
	tests := []struct {
		name    string
		tweak   func(*Policy)
		wantErr string
	}{
		{name: "defaults are valid", tweak: func(*Policy) {}},
		{name: "no hosts", tweak: func(p *Policy) { p.Hosts = nil }, wantErr: "hosts is empty"},
		{name: "negative validity", tweak: func(p *Policy) { p.ServingValidity = -time.Hour }, wantErr: "servingValidity must be positive"},
		{name: "renew before exceeds validity", tweak: func(p *Policy) { p.ServingRenewBefore = p.ServingValidity }, wantErr: "servingRenewBefore"},
		{name: "ca rotate before exceeds validity", tweak: func(p *Policy) { p.CARotateBefore = p.CAValidity }, wantErr: "caRotateBefore (43800h0m0s) must be shorter"},
		{name: "ca rotation too late for overlap", tweak: func(p *Policy) { p.CARotateBefore = p.ServingRenewBefore }, wantErr: "must exceed servingRenewBefore + propagationDelay"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			tc.tweak(&p)
			err := p.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want it to mention %q", err, tc.wantErr)
			}
			if _, rerr := Reconcile(Bundle{}, t0, p); (rerr != nil) != (tc.wantErr != "") {
				t.Errorf("Reconcile error = %v, want one only for an invalid policy", rerr)
			}
		})
	}
}

func TestDescribeHasNoKeyMaterial(t *testing.T) {
	b := mustReconcile(t, Bundle{}, t0, testPolicy()).Bundle
	got := Describe(b)
	for _, secret := range [][]byte{b.Key, b.CAKeys} {
		body := strings.Split(string(secret), "\n")[1]
		if strings.Contains(got, body) {
			t.Fatalf("Describe leaks key material: %s", got)
		}
	}
	if !strings.Contains(got, "1 ca [secret-injector-webhook-ca@") || !strings.Contains(got, "serving until 2030-04-01T12:00:00Z") {
		t.Errorf("Describe = %q", got)
	}
}
