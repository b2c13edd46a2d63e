package charttest

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/metrics"
)

// webhookMetricNames are the webhook's metrics. The webhook package does not
// export its list yet; when it does, use it here as metrics.Names is used.
var webhookMetricNames = []string{
	"secret_injector_webhook_admissions_total",
	"secret_injector_webhook_admission_duration_seconds",
	"secret_injector_webhook_certificate_expiry_timestamp_seconds",
}

// knownMetrics is every series name the agents and the webhook export,
// histograms' _bucket, _sum and _count included.
func knownMetrics() map[string]bool {
	known := map[string]bool{}
	for _, n := range slices.Concat(metrics.Names, webhookMetricNames) {
		known[n] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			known[n+suffix] = true
		}
	}
	return known
}

var (
	// string literals, label matchers, range and subquery brackets: nothing
	// inside them is a metric name
	promStrings   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promTokens    = regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|[0-9][0-9A-Za-z_.]*|[A-Za-z_:][A-Za-z0-9_:]*`)
	promFuncCall  = regexp.MustCompile(`^\s*\(`)
	promKeywords  = []string{"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "inf", "nan", "atan2"}
	labelValuesRe = regexp.MustCompile(`^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{[^}]*\})?\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)$`)
)

// metricNames returns the metric names a PromQL expression selects, in
// order of appearance: identifiers that are not functions or aggregations
// (followed by "("), keywords, numbers, Grafana variables, or labels inside
// {...} or by/without/on/ignoring (...).
func metricNames(expr string) []string {
	s := promStrings.ReplaceAllString(expr, " ")
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRanges.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range promTokens.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		switch {
		case tok[0] == '$' || (tok[0] >= '0' && tok[0] <= '9'):
			continue // a Grafana variable, a number or a duration
		case promFuncCall.MatchString(s[loc[1]:]):
			continue // a function or an aggregation
		case slices.Contains(promKeywords, strings.ToLower(tok)):
			continue
		}
		names = append(names, tok)
	}
	return names
}

// checkExpr reports an expression that selects no metric, or one that
// neither the agents nor the webhook export.
func checkExpr(t *testing.T, where, expr string) {
	t.Helper()
	names := metricNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
	known := knownMetrics()
	for _, n := range names {
		if !known[n] {
			t.Errorf("%s: %q uses %s, which no component exports (agent metrics.Names, webhook)", where, expr, n)
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
		{"grouping labels", "sum by (namespace, secret, result) (rate(secret_refresh_total[5m]))", []string{"secret_refresh_total"}},
		{"grouping after", "sum(rate(a_total[5m])) without (pod)", []string{"a_total"}},
		{"quantile", "histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket[5m])))", []string{"x_seconds_bucket"}},
		{"time arithmetic", "time() - secret_last_success_timestamp_seconds", []string{"secret_last_success_timestamp_seconds"}},
		{"set operators", "(a - time()) < 300 and a > 0 or vector(0)", []string{"a", "a"}},
		{"matching", "a * on (pod) group_left (node) b", []string{"a", "b"}},
		{"offset and scientific", "a offset 5m > 1e9", []string{"a"}},
		{"space before paren", "sum (a)", []string{"a"}},
		{"parenthesised metric", "(a)", []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, metricNames(tt.expr)); diff != "" {
				t.Errorf("metricNames(%q) (-want +got):\n%s", tt.expr, diff)
			}
		})
	}
}
