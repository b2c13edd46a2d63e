package webhook

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tradepulse/secret-injector/webhook/certs"
)

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.observe(ResultInjected, 3*time.Millisecond)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
	names, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	// 4 result series, 1 histogram, 1 gauge, 3 refusal reasons, 2 digest
	// outcomes, build info
	if names != 12 {
		t.Errorf("gathered %d series, want 12", names)
	}
}

func TestMetricsCertificateExpiry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	res, err := certs.Reconcile(certs.Bundle{}, time.Now(), certs.Policy{Hosts: []string{"x.y.svc"}}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(res.Bundle.Cert, res.Bundle.Key)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.certExpiry); got != 0 {
		t.Errorf("expiry before a certificate is loaded = %v, want 0", got)
	}
	m.setCertificate(pair)
	if got, want := testutil.ToFloat64(m.certExpiry), float64(pair.Leaf.NotAfter.Unix()); got != want {
		t.Errorf("expiry = %v, want %v", got, want)
	}
}
