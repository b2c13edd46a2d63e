package webhook

import (
	"crypto/tls"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradepulse/secret-injector/internal/buildinfo"
)

// Admission results, the only values of the result label.
const (
	ResultInjected = "injected"
	ResultSkipped  = "skipped"
	ResultDenied   = "denied"
	ResultError    = "error"
)

// Metrics are the webhook's own Prometheus metrics and its build info
// (secret_injector_build_info), registered on a registry the caller owns
// (never controller-runtime's global one).
type Metrics struct {
	admissions *prometheus.CounterVec
	duration   prometheus.Histogram
	certExpiry prometheus.Gauge
	refused    *prometheus.CounterVec
	digest     *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secret_injector_webhook_admissions_total",
			Help: "Pod admission requests handled, by result: injected, skipped (not opted in or already injected), denied (invalid annotations) or error.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "secret_injector_webhook_admission_duration_seconds",
			Help: "Time to decide one pod admission request, decoding to response.",
			// The API server waits at most timeoutSeconds (5 s); most
			// requests take well under a millisecond.
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
		certExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "secret_injector_webhook_certificate_expiry_timestamp_seconds",
			Help: "Expiry of the serving certificate currently loaded, as a Unix timestamp; 0 before one is loaded.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secret_injector_webhook_requests_refused_total",
			Help: "Requests to the admission port refused before admission, by reason: too_large (body over the limit), busy (in-flight bytes or admissions at their limit; answered 429) or read_failed (body not received in time).",
		}, []string{"reason"}),
	}
	m.digest = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "secret_injector_webhook_digest_checks_total",
		Help: "Admissions of pods that carry the injector's digest annotation, by outcome: match (injected by this process and unchanged since: answered without decoding the pod) or mismatch (decoded and patched in full).",
	}, []string{"outcome"})
	reg.MustRegister(m.admissions, m.duration, m.certExpiry, m.refused, m.digest, buildinfo.Collector(buildinfo.Get()))
	// Every result exists from the start, so that rate() and alerts see a
	// zero rather than no series.
	for _, r := range []string{ResultInjected, ResultSkipped, ResultDenied, ResultError} {
		m.admissions.WithLabelValues(r)
	}
	for _, r := range []string{RefusedTooLarge, RefusedBusy, RefusedRead} {
		m.refused.WithLabelValues(r)
	}
	for _, o := range []string{DigestMatch, DigestMismatch} {
		m.digest.WithLabelValues(o)
	}
	return m
}

func (m *Metrics) observe(result string, d time.Duration) {
	m.admissions.WithLabelValues(result).Inc()
	m.duration.Observe(d.Seconds())
}

// setCertificate records the expiry of a newly loaded serving certificate.
func (m *Metrics) setCertificate(c tls.Certificate) {
	if c.Leaf != nil {
		m.certExpiry.Set(float64(c.Leaf.NotAfter.Unix()))
	}
}

// digestChecked counts a digest check.
func (m *Metrics) digestChecked(outcome string) { m.digest.WithLabelValues(outcome).Inc() }
