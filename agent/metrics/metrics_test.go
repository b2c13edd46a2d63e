package metrics

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func populated(t *testing.T) (*prometheus.Registry, *Agent) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Status("api-key", "env", true, time.Unix(1700000000, 0))
	m.Refreshes.WithLabelValues("api-key", "env", ResultUpdated).Inc()
	m.FetchDuration.WithLabelValues("env").Observe(0.01)
	m.Notifications.WithLabelValues("signal", ResultOK).Inc()
	m.LeaseExpiry.WithLabelValues("db", "vault").Set(1)
	m.LeaseRenewals.WithLabelValues("db", "vault", ResultOK).Inc()
	m.LeaseRevocations.WithLabelValues("db", "vault", ResultOK).Inc()
	m.Writes.WithLabelValues(ResultOK).Inc()
	m.CertExpiry.WithLabelValues("web-tls", "vault").Set(1)
	return reg, m
}

func TestMetricNamesPassLint(t *testing.T) {
	reg, _ := populated(t)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

func TestNamesListsEveryRegisteredMetric(t *testing.T) {
	reg, _ := populated(t)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		got = append(got, f.GetName())
	}
	want := slices.Clone(Names)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("registered %v, Names says %v", got, want)
	}
}

func TestStatusKeepsLastSuccessOnFailure(t *testing.T) {
	reg, m := populated(t)
	m.Status("api-key", "env", false, time.Unix(1800000000, 0))
	want := `
# HELP secret_last_success_timestamp_seconds Unix time of the secret's last successful refresh.
# TYPE secret_last_success_timestamp_seconds gauge
secret_last_success_timestamp_seconds{backend="env",secret="api-key"} 1.7e+09
# HELP secret_rotation_status 1 when the secret's file holds the backend's current value, 0 when its last refresh failed.
# TYPE secret_rotation_status gauge
secret_rotation_status{backend="env",secret="api-key"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"secret_rotation_status", "secret_last_success_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}
}
