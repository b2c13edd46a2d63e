package charttest

import (
	"fmt"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tradepulse/secret-injector/agent/metrics"
	"github.com/tradepulse/secret-injector/webhook"
)

// promParser is the PromQL parser Prometheus itself runs, with its default
// (stable) features only: an expression it accepts is one every Prometheus
// 3 accepts.
var promParser = parser.NewParser(parser.Options{})

// foreignMetrics are the series the alerts and the dashboard read from
// components other than ours, by the component that exports them.
var foreignMetrics = map[string][]string{
	// Prometheus itself, one per scrape target
	"prometheus": {"up"},
	// kube-state-metrics: the injected init container, per pod
	"kube-state-metrics": {
		"kube_pod_init_container_status_waiting_reason",
		"kube_pod_init_container_status_restarts_total",
		"kube_pod_status_phase",
	},
	// the API server's calls to admission webhooks, by webhook name
	"kube-apiserver": {
		"apiserver_admission_webhook_rejection_count",
		"apiserver_admission_webhook_fail_open_count",
		"apiserver_admission_webhook_request_total",
		"apiserver_admission_webhook_admission_duration_seconds",
	},
}

// ourMetrics is every metric family the agents and the webhook register,
// read from the code that registers them.
var ourMetrics = sync.OnceValue(func() []string {
	names := slices.Clone(metrics.Names)
	reg := prometheus.NewRegistry()
	webhook.NewMetrics(reg)
	mfs, err := reg.Gather()
	if err != nil {
		panic(fmt.Sprintf("gather the webhook's metrics: %v", err))
	}
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return names
})

// knownMetrics is every series name the alerts and the dashboard may
// select, histograms' _bucket, _sum and _count included.
func knownMetrics() map[string]bool {
	known := map[string]bool{}
	all := ourMetrics()
	for _, ns := range foreignMetrics {
		all = append(all, ns...)
	}
	for _, n := range all {
		known[n] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			known[n+suffix] = true
		}
	}
	return known
}

// grafanaRange matches Grafana's built-in interval variables, which stand
// where PromQL wants a duration; they are replaced before parsing. Other
// variables ($namespace, ${cluster}) appear inside label matchers' strings,
// which the parser takes as they are.
var grafanaRange = regexp.MustCompile(`\$(?:__(?:rate_interval|interval|range)\b|\{__(?:rate_interval|interval|range)\})`)

// parseExpr parses a PromQL expression, alert or dashboard query, with the
// Prometheus parser.
func parseExpr(expr string) (parser.Expr, error) {
	return promParser.ParseExpr(grafanaRange.ReplaceAllString(expr, "5m"))
}

// selectors returns the series selectors of an expression, in order.
func selectors(e parser.Expr) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// selectorName is the metric a selector asks for: its name, or an exact
// __name__ matcher.
func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// metricNames returns the metric names an expression selects, in order of
// appearance, or the parser's error.
func metricNames(expr string) ([]string, error) {
	e, err := parseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, vs := range selectors(e) {
		names = append(names, selectorName(vs))
	}
	return names, nil
}

// checkExpr reports an expression that Prometheus would not parse, that
// selects no metric, or that selects one no component exports.
func checkExpr(t *testing.T, where, expr string) {
	t.Helper()
	names, err := metricNames(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return
	}
	if len(names) == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
	known := knownMetrics()
	for _, n := range names {
		if !known[n] {
			t.Errorf("%s: %q uses %q, which no component exports (agent metrics.Names, webhook.NewMetrics, foreignMetrics)", where, expr, n)
		}
	}
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{"bare", "secret_rotation_status", []string{"secret_rotation_status"}},
		{"comparison", "secret_rotation_status == 0", []string{"secret_rotation_status"}},
		{"matchers hold labels and strings", `secret_refresh_total{namespace=~"$namespace", result!~"updated|unchanged"}`, []string{"secret_refresh_total"}},
		{"function and range", "rate(secret_refresh_total[5m])", []string{"secret_refresh_total"}},
		{"grafana interval", "rate(secret_refresh_total[$__rate_interval])", []string{"secret_refresh_total"}},
		{"grafana interval in braces", "increase(secret_refresh_total[${__range}])", []string{"secret_refresh_total"}},
		{"grouping labels", "sum by (namespace, secret, result) (rate(secret_refresh_total[5m]))", []string{"secret_refresh_total"}},
		{"grouping after", "sum(rate(a_total[5m])) without (pod)", []string{"a_total"}},
		{"quantile", "histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket[5m])))", []string{"x_seconds_bucket"}},
		{"time arithmetic", "time() - secret_last_success_timestamp_seconds", []string{"secret_last_success_timestamp_seconds"}},
		{"set operators", "(a - time()) < 300 and a > 0 or vector(0)", []string{"a", "a"}},
		{"matching", "a * on (pod) group_left (node) b", []string{"a", "b"}},
		{"offset and scientific", "a offset 5m > 1e9", []string{"a"}},
		{"name matcher", `{__name__="a", job="x"}`, []string{"a"}},
		{"absent", `absent(up{job="x"} == 1)`, []string{"up"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := metricNames(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("metricNames(%q) (-want +got):\n%s", tt.expr, diff)
			}
		})
	}
}

// TestParserRejects: the check is the real parser, not a pattern: these
// pass a regular expression's eye and fail in Prometheus.
func TestParserRejects(t *testing.T) {
	for _, expr := range []string{
		"sum by (namespace) rate(secret_refresh_total[5m])", // aggregation needs parentheses
		"rate(secret_refresh_total)",                        // rate needs a range
		`secret_rotation_status{namespace="a"`,              // unclosed matcher
		"secret_rotation_status == ",                        // no right-hand side
		"histogram_quantile(0.99)",                          // wrong arity
		"secret_rotation_status[5m] > 0",                    // a range in a comparison
		"rate(secret_refresh_total[5x])",                    // not a duration
	} {
		if _, err := parseExpr(expr); err == nil {
			t.Errorf("%q parsed; want an error", expr)
		}
	}
}

// TestKnownMetrics: the list the check uses holds the webhook's metrics
// as registered, so a renamed metric breaks the chart's tests.
func TestKnownMetrics(t *testing.T) {
	known := knownMetrics()
	for _, n := range []string{
		"secret_rotation_status",
		"secret_injector_webhook_admissions_total",
		"secret_injector_webhook_admission_duration_seconds_bucket",
		"secret_injector_webhook_certificate_expiry_timestamp_seconds",
		"secret_injector_webhook_requests_refused_total",
	} {
		if !known[n] {
			t.Errorf("%s is not known", n)
		}
	}
}
