package webhook

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tradepulse/secret-injector/internal/buildinfo"
	"github.com/tradepulse/secret-injector/webhook/certs"
)

// scrape reads the webhook's /metrics as Prometheus does and returns the
// value of each series by its text form, e.g.
// `controller_runtime_webhook_requests_total{code="200",webhook="/mutate-pods"}`.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	series := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				series[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				series[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				series[name+"_count{"+strings.Join(labels, ",")+"}"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return series
}

// TestMetricsEndpoint: the webhook's /metrics, scraped from a running
// webhook (Run, file TLS mode) after admissions through its TLS port,
// carries the build info and controller-runtime's webhook metrics, which
// count those admissions by HTTP code (a 413 refusal by the limits
// included), beside our own.
func TestMetricsEndpoint(t *testing.T) {
	dir := t.TempDir()
	bundle := fileModeBundle(t, dir, certs.Bundle{}, time.Now(), []string{"127.0.0.1"})
	w := startWebhook(t, Config{
		TLSMode:        TLSModeFile,
		CertDir:        dir,
		Mutator:        InjectorMutator(testInjectorOptions()),
		NativeSidecars: NativeSidecarsFalse,
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle.CACerts)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}

	const (
		requests = `controller_runtime_webhook_requests_total{code="200",webhook="/mutate-pods"}`
		latency  = `controller_runtime_webhook_latency_seconds_count{webhook="/mutate-pods"}`
		inFlight = `controller_runtime_webhook_requests_in_flight{webhook="/mutate-pods"}`
		tooLarge = `controller_runtime_webhook_requests_total{code="413",webhook="/mutate-pods"}`
		injected = `secret_injector_webhook_admissions_total{result="injected"}`
	)
	before := scrape(t, w.cfg.MetricsAddr)
	for i := range 2 {
		code, ar, _, err := admit(client, w.url(), bytes.NewReader(review(t, testPod(nil))))
		if err != nil || code != http.StatusOK || ar.Response == nil || !ar.Response.Allowed || len(ar.Response.Patch) == 0 {
			t.Fatalf("admission %d: %d %v %+v", i, code, err, ar)
		}
	}
	// A bad review is answered 200 with an error in the review, as
	// controller-runtime answers; a body over the limit is refused 413.
	if code, ar, _, err := admit(client, w.url(), strings.NewReader(`{"kind":"Pod"}`)); err != nil || code != http.StatusOK || ar.Response.Result.Code != http.StatusBadRequest {
		t.Fatalf("a body that is no AdmissionReview: %d %v %+v, want 200 with a 400 result", code, err, ar)
	}
	if code, _, _, err := admit(client, w.url(), bytes.NewReader(make([]byte, DefaultMaxRequestBytes+1))); err != nil || code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over %d bytes: %d %v, want 413", DefaultMaxRequestBytes, code, err)
	}
	after := scrape(t, w.cfg.MetricsAddr)

	info := buildinfo.Get()
	bi := fmt.Sprintf(`%s{commit=%q,go_version=%q,version=%q}`, buildinfo.MetricName, info.Commit, info.GoVersion, info.Version)
	if after[bi] != 1 {
		t.Errorf("%s = %v, want 1; build info series: %v", bi, after[bi], matching(after, buildinfo.MetricName))
	}
	for _, c := range []struct {
		series string
		delta  float64
	}{{requests, 3}, {latency, 4}, {tooLarge, 1}, {injected, 2}} {
		if got := after[c.series] - before[c.series]; got != c.delta {
			t.Errorf("%s went up by %v, want %v; controller-runtime series: %v", c.series, got, c.delta, matching(after, "controller_runtime_webhook_"))
		}
	}
	if v, ok := after[inFlight]; !ok || v != 0 {
		t.Errorf("%s = %v (present %v), want 0 between requests", inFlight, v, ok)
	}
	// Only the webhook families of controller-runtime's registry, not the
	// client-go and workqueue metrics it also holds.
	for s := range after {
		if strings.HasPrefix(s, "rest_client_") || strings.HasPrefix(s, "workqueue_") || strings.HasPrefix(s, "controller_runtime_reconcile") {
			t.Errorf("/metrics serves %s, which is not the webhook's", s)
		}
	}
}

// matching lists the series whose names start with prefix, for messages.
func matching(series map[string]float64, prefix string) []string {
	var out []string
	for s, v := range series {
		if strings.HasPrefix(s, prefix) {
			out = append(out, fmt.Sprintf("%s=%v", s, v))
		}
	}
	return out
}
