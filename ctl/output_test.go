package ctl

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/admin"
)

// TestStatusTableCertificateTimes: what the table says for a certificate
// as its NotAfter approaches and passes, and for a plain secret; the
// agent-process tests (status_cert_test.go) cover the real answers.
func TestStatusTableCertificateTimes(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	cert := func(notAfter, renewAt time.Duration) *admin.CertificateStatus {
		return &admin.CertificateStatus{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(notAfter), RenewAt: now.Add(renewAt)}
	}
	rep := &Report{Command: "status", Pods: []PodReport{{
		Namespace: "trading", Pod: "web-0", Outcome: OutcomeOK,
		Status: &admin.Status{Backend: "vault", Mode: "sidecar", Secrets: []admin.SecretStatus{
			{Name: "fresh", OK: true, Certificate: cert(2*time.Hour, time.Hour)},
			{Name: "overdue", OK: true, Certificate: cert(30*time.Minute, -20*time.Minute)},
			{Name: "expired", OK: false, LastError: "denied", Certificate: cert(-2*time.Minute, -time.Hour)},
			{Name: "plain", OK: true},
		}},
	}}}
	for _, tc := range []struct {
		format string
		want   map[string]string // secret → the row's end
	}{
		{OutputTable, map[string]string{
			"fresh": "- in 120m -", "overdue": "- in 30m -", "expired": "- expired 2m ago denied", "plain": "- - -",
		}},
		{OutputWide, map[string]string{
			"fresh": "- in 60m", "overdue": "- due 20m ago", "expired": "- due 60m ago", "plain": "- -",
		}},
	} {
		var buf bytes.Buffer
		if err := writeReport(&buf, tc.format, rep, now); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n")[1:] {
			f := strings.Fields(line)
			tail := f[len(f)-len(strings.Fields(tc.want[f[2]])):]
			got[f[2]] = strings.Join(tail, " ")
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s: ends of rows (-want +got):\n%s\n%s", tc.format, d, buf.String())
		}
	}
}
