// Package metrics holds the agent's Prometheus metrics, built against a
// registry that is passed in. Labels come from bounded sets only: the secret's
// file name (from the pod spec), the backend, and fixed result words — never
// a lease id, a reference or a value.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradepulse/secret-injector/internal/buildinfo"
)

// Refresh results, the bounded values of the "result" label.
const (
	ResultUpdated   = "updated"   // a new version was written
	ResultUnchanged = "unchanged" // the backend still holds the version written
	ResultNotFound  = "not_found" // gone: file removed (fail closed)
	ResultDenied    = "denied"    // access denied: file removed (fail closed)
	ResultError     = "error"     // transient: last good value kept
	ResultOK        = "ok"
)

// Agent is the set of metrics one agent exports.
type Agent struct {
	RotationStatus   *prometheus.GaugeVec
	LastSuccess      *prometheus.GaugeVec
	Refreshes        *prometheus.CounterVec
	FetchDuration    *prometheus.HistogramVec
	Notifications    *prometheus.CounterVec
	LeaseExpiry      *prometheus.GaugeVec
	LeaseRenewals    *prometheus.CounterVec
	LeaseRevocations *prometheus.CounterVec
	Writes           *prometheus.CounterVec
	// CertExpiry is each certificate's NotAfter, while its files are on
	// the volume.
	CertExpiry *prometheus.GaugeVec
}

// Names of every metric the agent exports; the chart's dashboard and alerts
// may query only these (a test cross-checks them).
var Names = []string{
	"secret_rotation_status",
	"secret_last_success_timestamp_seconds",
	"secret_refresh_total",
	"secret_fetch_duration_seconds",
	"secret_app_notify_total",
	"secret_lease_expiry_timestamp_seconds",
	"secret_lease_renewals_total",
	"secret_lease_revocations_total",
	"secret_volume_writes_total",
	"secret_certificate_expiry_timestamp_seconds",
	buildinfo.MetricName,
}

// New creates the agent's metrics and registers them with reg.
func New(reg prometheus.Registerer) *Agent {
	secretLabels := []string{"secret", "backend"}
	resultLabels := []string{"secret", "backend", "result"}
	m := &Agent{
		RotationStatus: gaugeVec("secret_rotation_status",
			"1 when the secret's file holds the backend's current value, 0 when its last refresh failed.", secretLabels),
		LastSuccess: gaugeVec("secret_last_success_timestamp_seconds",
			"Unix time of the secret's last successful refresh.", secretLabels),
		Refreshes: counterVec("secret_refresh_total",
			"Refreshes of a secret by result: updated, unchanged, not_found, denied, error.", resultLabels),
		FetchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "secret_fetch_duration_seconds",
			Help:    "Time spent asking the backend for one secret (version check and fetch).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"backend"}),
		Notifications: counterVec("secret_app_notify_total",
			"Attempts to tell the app its files changed, by method (signal, http, none) and result.", []string{"method", "result"}),
		LeaseExpiry: gaugeVec("secret_lease_expiry_timestamp_seconds",
			"Unix time at which the secret's current lease expires unless renewed.", secretLabels),
		LeaseRenewals: counterVec("secret_lease_renewals_total",
			"Lease renewals by result.", resultLabels),
		LeaseRevocations: counterVec("secret_lease_revocations_total",
			"Lease revocations by result.", resultLabels),
		Writes: counterVec("secret_volume_writes_total",
			"Swaps of the shared volume's payload by result.", []string{"result"}),
		CertExpiry: gaugeVec("secret_certificate_expiry_timestamp_seconds",
			"Unix time at which the certificate on the volume expires (its NotAfter); a new one is issued at about 2/3 of its validity.", secretLabels),
	}
	reg.MustRegister(m.RotationStatus, m.LastSuccess, m.Refreshes, m.FetchDuration,
		m.Notifications, m.LeaseExpiry, m.LeaseRenewals, m.LeaseRevocations, m.Writes, m.CertExpiry,
		buildinfo.Collector(buildinfo.Get()))
	return m
}

// gaugeVec and counterVec keep each metric above to its name, help and
// labels, the only parts that differ between them.
func gaugeVec(name, help string, labels []string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}

func counterVec(name, help string, labels []string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// Status records the secret's health: ok sets status 1 and the last-success
// time, !ok sets status 0 and leaves the last success where it was.
func (m *Agent) Status(secret, backend string, ok bool, now time.Time) {
	if ok {
		m.RotationStatus.WithLabelValues(secret, backend).Set(1)
		m.LastSuccess.WithLabelValues(secret, backend).Set(float64(now.UnixNano()) / 1e9)
		return
	}
	m.RotationStatus.WithLabelValues(secret, backend).Set(0)
}
