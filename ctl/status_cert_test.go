package ctl_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/injector"
)

// TestStatusShowsCertificateExpiry: an agent holding a certificate issued
// by the Vault test bed's real PKI engine, next to one holding plain
// secrets. The operator sees the certificate's expiry (CERT-EXPIRY) and,
// wide, when the agent issues the next one (CERT-RENEW), both as the
// agent reports them; a plain secret shows neither. JSON carries the
// agent's certificate field as it is, and never the key.
func TestStatusShowsCertificateExpiry(t *testing.T) {
	needBed(t)
	v := vaulttest.Bed(t)
	pki := v.PKIMount(t)
	ref := pki.Role(t, map[string]any{"allowed_domains": "trading.svc", "allow_subdomains": true, "max_ttl": "2h"})
	token := v.Token(t, time.Hour, v.Policy(t, vaulttest.IssuePolicy(ref)))

	ns := namespace(t, "certs")
	_, web := app{annotations: map[string]string{
		injector.AnnotationInject: "true", injector.AnnotationBackend: "vault",
		injector.AnnotationSecretPrefix + "web-tls":         ref,
		injector.AnnotationCertCommonNamePrefix + "web-tls": "web.trading.svc",
		injector.AnnotationCertTTLPrefix + "web-tls":        "1h",
	}}.deployment(t, ns, "web", 1)
	_, api := app{annotations: annotated(nil)}.deployment(t, ns, "api", 1)

	dir := t.TempDir()
	certAgent := startAgent(t, dir, fmt.Sprintf(`
backend:
  type: vault
  vault: {address: %q, auth: token}
secrets:
  - name: web-tls
    ref: %s
    certificate: {commonName: web.trading.svc, ttl: 1h}
`, v.Addr, ref), []string{"VAULT_TOKEN=" + token})
	d := newLocalDialer()
	d.add(web[0], certAgent.addr)
	d.add(api[0], envAgent(t).addr)

	var cert admin.CertificateStatus
	waitFor(t, func() bool {
		st := agentStatus(t, certAgent.addr)
		if len(st.Secrets) == 1 && st.Secrets[0].OK && st.Secrets[0].Certificate != nil {
			cert = *st.Secrets[0].Certificate
			return true
		}
		return false
	})
	key, err := os.ReadFile(filepath.Join(dir, "secrets", "web-tls", "key.pem"))
	if err != nil || !strings.Contains(string(key), "PRIVATE KEY") {
		t.Fatalf("the agent wrote no private key (%v)", err)
	}
	if got := cert.NotAfter.Sub(cert.NotBefore); got < time.Hour || got > time.Hour+2*time.Minute {
		t.Fatalf("certificate valid for %s, want the requested 1h (and Vault's backdating)", got)
	}
	// The table's times are relative to now; fix now 40 minutes before
	// NotAfter, so the cells are exact.
	now := cert.NotAfter.Add(-40 * time.Minute)
	clock := func() time.Time { return now }
	noKey := func(t *testing.T, r result) {
		t.Helper()
		for _, line := range strings.Split(strings.TrimSpace(string(key)), "\n") {
			if !strings.HasPrefix(line, "-----") && strings.Contains(r.stdout+r.stderr, line) {
				t.Fatalf("the certificate's private key reached the output:\n%s", r)
			}
		}
	}

	t.Run("table", func(t *testing.T) {
		r := run(t, d, clock, "status", "-n", ns)
		if r.err != nil {
			t.Fatalf("status failed:\n%s", r)
		}
		noKey(t, r)
		// NAMESPACE POD SECRET OK VERSION LAST-SUCCESS (two words)
		// LEASE-EXPIRY CERT-EXPIRY ERROR; "in 40m" is two words too.
		want := map[string][]string{
			"web-tls":    {"-", "in", "40m", "-"},
			"api-key":    {"-", "-", "-"},
			"api-secret": {"-", "-", "-"},
		}
		rows := tableRows(r.stdout)
		if d := cmp.Diff([]string{"LEASE-EXPIRY", "CERT-EXPIRY", "ERROR"}, rows[0][6:]); d != "" {
			t.Errorf("header (-want +got):\n%s\n%s", d, r.stdout)
		}
		seen := 0
		for _, row := range rows[1:] {
			w, ok := want[row[2]]
			if !ok {
				t.Errorf("unexpected row %q", row)
				continue
			}
			seen++
			if d := cmp.Diff(w, row[7:]); d != "" {
				t.Errorf("secret %s: lease expiry, cert expiry, error (-want +got):\n%s\n%s", row[2], d, r.stdout)
			}
		}
		if seen != 3 {
			t.Errorf("%d secret rows, want 3:\n%s", seen, r.stdout)
		}
	})

	t.Run("wide shows when the next certificate is issued", func(t *testing.T) {
		due := func() time.Time { return cert.RenewAt.Add(15 * time.Minute) }
		r := run(t, d, due, "status", "-n", ns, "-o", "wide")
		if r.err != nil {
			t.Fatalf("status failed:\n%s", r)
		}
		noKey(t, r)
		rows := tableRows(r.stdout)
		if h := rows[0]; h[len(h)-1] != "CERT-RENEW" {
			t.Fatalf("wide header %q does not end with CERT-RENEW", h)
		}
		for _, row := range rows[1:] {
			var want []string
			switch row[2] {
			case "web-tls":
				// 15 minutes past the agent's renewAt (2/3 of the validity,
				// jittered earlier): reissue is overdue.
				want = []string{"due", "15m", "ago"}
			default:
				want = []string{"-", "-"} // LEASE-ID, CERT-RENEW
			}
			if d := cmp.Diff(want, row[len(row)-len(want):]); d != "" {
				t.Errorf("%s: CERT-RENEW (-want +got):\n%s\n%s", row[2], d, r.stdout)
			}
		}
	})

	t.Run("json carries the agent's certificate field", func(t *testing.T) {
		r := run(t, d, clock, "status", "-n", ns, "-o", "json")
		if r.err != nil {
			t.Fatalf("status failed:\n%s", r)
		}
		noKey(t, r)
		var rep struct {
			Pods []struct {
				Pod    string `json:"pod"`
				Status struct {
					Secrets []map[string]any `json:"secrets"`
				} `json:"status"`
			} `json:"pods"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.stdout)
		}
		for _, p := range rep.Pods {
			for _, s := range p.Status.Secrets {
				c, has := s["certificate"]
				switch s["name"] {
				case "web-tls":
					want := map[string]any{
						"notBefore": cert.NotBefore.Format(time.RFC3339Nano),
						"notAfter":  cert.NotAfter.Format(time.RFC3339Nano),
						"renewAt":   cert.RenewAt.Format(time.RFC3339Nano),
					}
					if d := cmp.Diff(want, c); d != "" {
						t.Errorf("%s web-tls certificate (-agent's +reported):\n%s", p.Pod, d)
					}
				default:
					if has {
						t.Errorf("%s %s: a plain secret has a certificate field %v", p.Pod, s["name"], c)
					}
				}
			}
		}
		if len(rep.Pods) != 2 {
			t.Errorf("%d pods, want 2:\n%s", len(rep.Pods), r.stdout)
		}
	})
}
