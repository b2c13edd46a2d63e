package charttest

import (
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/webhook"
)

// byKind renders values and returns the objects of one kind.
func byKind(t *testing.T, helm string, values map[string]any, kind string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Render(helm, values, testNamespace)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// TestMonitoringOptIn: the default install needs no Prometheus Operator CRDs
// and no Grafana.
func TestMonitoringOptIn(t *testing.T) {
	helm := helmBinary(t)
	objs, err := Render(helm, nil, testNamespace)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if strings.HasPrefix(o.GetAPIVersion(), "monitoring.coreos.com/") || o.GetKind() == "ConfigMap" {
			t.Errorf("default render has %s %s", o.GetKind(), o.GetName())
		}
	}
}

// TestAlertRules: each alert queries exported metrics only and tells the
// on-call what to do.
func TestAlertRules(t *testing.T) {
	helm := helmBinary(t)
	rules := byKind(t, helm, renderCaseNamed(t, "monitoring").values, "PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("got %d PrometheusRules, want 1", len(rules))
	}
	groups, _, _ := unstructured.NestedSlice(rules[0].Object, "spec", "groups")
	var alerts []string
	for _, g := range groups {
		rs, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rs {
			rule := r.(map[string]any)
			name, _ := rule["alert"].(string)
			alerts = append(alerts, name)
			expr, _ := rule["expr"].(string)
			checkExpr(t, "alert "+name, expr)
			if rule["for"] == nil {
				t.Errorf("alert %s: no for: it would fire on a single bad scrape", name)
			}
			labels, _, _ := unstructured.NestedStringMap(rule, "labels")
			if !slices.Contains([]string{"critical", "warning", "info"}, labels["severity"]) {
				t.Errorf("alert %s: severity %q", name, labels["severity"])
			}
			if labels["team"] != "platform" {
				t.Errorf("alert %s: additionalLabels not applied: %v", name, labels)
			}
			ann, _, _ := unstructured.NestedStringMap(rule, "annotations")
			for _, k := range []string{"summary", "description", "runbook", "runbook_url"} {
				if strings.TrimSpace(ann[k]) == "" {
					t.Errorf("alert %s: no %s annotation", name, k)
				}
			}
		}
	}
	want := []string{
		"SecretRefreshFailing", "SecretLeaseExpiringSoon", "SecretInjectorCertificateExpiringSoon",
		"SecretInjectorInitContainerWaiting", "SecretInjectorInitContainerRestarting",
		"SecretInjectorWebhookDown", "SecretInjectorWebhookUnreachable", "SecretInjectorWebhookErrors",
		"SecretInjectorWebhookDenialsSpike", "SecretInjectorWebhookCertificateExpiring",
	}
	if diff := cmp.Diff(want, alerts); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
}

// alertRules renders values and returns the PrometheusRule's rules, by
// alert name.
func alertRules(t *testing.T, helm string, values map[string]any) map[string]map[string]any {
	t.Helper()
	rules := byKind(t, helm, values, "PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("got %d PrometheusRules, want 1", len(rules))
	}
	out := map[string]map[string]any{}
	groups, _, _ := unstructured.NestedSlice(rules[0].Object, "spec", "groups")
	for _, g := range groups {
		rs, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rs {
			rule := r.(map[string]any)
			out[rule["alert"].(string)] = rule
		}
	}
	return out
}

// selectorsOf parses an alert's expression and returns its selectors by
// metric name.
func selectorsOf(t *testing.T, expr string) map[string]*parser.VectorSelector {
	t.Helper()
	e, err := parseExpr(expr)
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	out := map[string]*parser.VectorSelector{}
	for _, vs := range selectors(e) {
		out[selectorName(vs)] = vs
	}
	return out
}

// matcher returns the selector's matcher on label, or nil.
func matcher(vs *parser.VectorSelector, label string) *labels.Matcher {
	for _, m := range vs.LabelMatchers {
		if m.Name == label {
			return m
		}
	}
	return nil
}

// TestAlertsSelectWhatTheChartInstalls: the alerts that read other
// components' series pick ours out by what the chart and the injector
// actually name: the init container, the webhook's name in its
// configuration, the metrics Service's job, the release namespace.
func TestAlertsSelectWhatTheChartInstalls(t *testing.T) {
	helm := helmBinary(t)
	values := renderCaseNamed(t, "monitoring").values
	rules := alertRules(t, helm, values)
	expr := func(alert string) string {
		t.Helper()
		r := rules[alert]
		if r == nil {
			t.Fatalf("no alert %s", alert)
		}
		return r["expr"].(string)
	}

	for _, alert := range []string{"SecretInjectorInitContainerWaiting", "SecretInjectorInitContainerRestarting"} {
		for name, vs := range selectorsOf(t, expr(alert)) {
			if !strings.HasPrefix(name, "kube_pod_init_container_") {
				continue
			}
			// Either agent container can hold the pod back: the native
			// sidecar, or the init container (mode init, classic sidecars).
			if m := matcher(vs, "container"); m == nil || !m.Matches(injector.InitContainerName) || !m.Matches(injector.SidecarName) || m.Matches("app") {
				t.Errorf("%s: %s selects container %v, want %s and %s only", alert, name, m, injector.InitContainerName, injector.SidecarName)
			}
		}
	}
	waiting := selectorsOf(t, expr("SecretInjectorInitContainerWaiting"))["kube_pod_init_container_status_waiting_reason"]
	if m := matcher(waiting, "reason"); m == nil || m.Matches("PodInitializing") || m.Matches("ContainerCreating") || !m.Matches("ImagePullBackOff") || !m.Matches("CreateContainerConfigError") {
		t.Errorf("waiting reasons %v: want the stuck ones, not the normal PodInitializing or ContainerCreating", m)
	}

	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(byKind(t, helm, values, "MutatingWebhookConfiguration")[0].Object, &mwc); err != nil {
		t.Fatal(err)
	}
	unreachable := selectorsOf(t, expr("SecretInjectorWebhookUnreachable"))["apiserver_admission_webhook_rejection_count"]
	if unreachable == nil {
		t.Fatal("SecretInjectorWebhookUnreachable does not read apiserver_admission_webhook_rejection_count (failurePolicy Fail)")
	}
	if m := matcher(unreachable, "name"); m == nil || m.Value != mwc.Webhooks[0].Name || m.Value != webhook.WebhookName {
		t.Errorf("SecretInjectorWebhookUnreachable selects webhook %v, want %s", m, mwc.Webhooks[0].Name)
	}
	if m := matcher(unreachable, "error_type"); m == nil || m.Matches("no_error") || !m.Matches("calling_webhook_error") {
		t.Errorf("error_type %v: want calls that failed, not the webhook's own denials (no_error)", m)
	}
	ignore := map[string]any{"webhook": map[string]any{"failurePolicy": "Ignore"}}
	for k, v := range values {
		ignore[k] = v
	}
	if vs := selectorsOf(t, alertRules(t, helm, ignore)["SecretInjectorWebhookUnreachable"]["expr"].(string))["apiserver_admission_webhook_fail_open_count"]; vs == nil {
		t.Error("with failurePolicy Ignore, SecretInjectorWebhookUnreachable does not read apiserver_admission_webhook_fail_open_count")
	}

	up := selectorsOf(t, expr("SecretInjectorWebhookDown"))["up"]
	if m := matcher(up, "job"); m == nil || m.Value != ReleaseName+"-metrics" {
		t.Errorf("SecretInjectorWebhookDown selects job %v, want the metrics Service's name", m)
	}
	if m := matcher(up, "namespace"); m == nil || m.Value != testNamespace {
		t.Errorf("SecretInjectorWebhookDown selects namespace %v, want %s", m, testNamespace)
	}
	noSM := map[string]any{"monitoring": map[string]any{"prometheusRule": map[string]any{"enabled": true}}}
	if _, ok := alertRules(t, helm, noSM)["SecretInjectorWebhookDown"]; ok {
		t.Error("SecretInjectorWebhookDown without a ServiceMonitor: up would be absent and it would always fire")
	}
}

// TestRunbookURLs: every alert links to its own section of docs/runbook.md,
// under the address the values give, and the runbook has no section for an
// alert that does not exist.
func TestRunbookURLs(t *testing.T) {
	helm := helmBinary(t)
	sections := runbookSections(t)
	for _, base := range []string{"", "https://git.example.internal/platform/secret-injector/-/blob/main/docs/runbook.md"} {
		values := renderCaseNamed(t, "monitoring").values
		want := "docs/runbook.md"
		if base != "" {
			values = map[string]any{"monitoring": map[string]any{
				"serviceMonitor": map[string]any{"enabled": true},
				"prometheusRule": map[string]any{"enabled": true, "runbookURL": base},
			}}
			want = base
		}
		rules := alertRules(t, helm, values)
		for name, r := range rules {
			got, _, _ := unstructured.NestedString(r, "annotations", "runbook_url")
			if got != want+"#"+strings.ToLower(name) {
				t.Errorf("%s: runbook_url %q, want %s#%s", name, got, want, strings.ToLower(name))
			}
			if !sections[strings.ToLower(name)] {
				t.Errorf("%s: docs/runbook.md has no section ## %s", name, name)
			}
		}
		if base != "" {
			continue
		}
		for s := range sections {
			if !strings.HasPrefix(s, "secret") {
				continue
			}
			var found bool
			for name := range rules {
				found = found || strings.ToLower(name) == s
			}
			if !found {
				t.Errorf("docs/runbook.md has a section #%s for an alert the chart does not have", s)
			}
		}
	}
}

// metaAnnotationLabel is Prometheus' discovery label for a pod annotation:
// every character outside [a-zA-Z0-9_] becomes "_".
func metaAnnotationLabel(key string) string {
	return "__meta_kubernetes_pod_annotation_" + regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(key, "_")
}

// TestPodMonitorMatchesInjector: the PodMonitor scrapes what the injector
// actually adds — its port name, its status annotation, its sidecar's name.
func TestPodMonitorMatchesInjector(t *testing.T) {
	helm := helmBinary(t)
	pms := byKind(t, helm, renderCaseNamed(t, "monitoring").values, "PodMonitor")
	if len(pms) != 1 {
		t.Fatalf("got %d PodMonitors, want 1", len(pms))
	}
	pm := pms[0]
	if any, _, _ := unstructured.NestedBool(pm.Object, "spec", "namespaceSelector", "any"); !any {
		t.Error("PodMonitor does not look in every namespace")
	}
	if pm.GetLabels()["release"] != "kube-prometheus-stack" {
		t.Errorf("PodMonitor labels %v lack the values' release label", pm.GetLabels())
	}
	eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(eps) != 1 {
		t.Fatalf("got %d podMetricsEndpoints, want 1", len(eps))
	}
	ep := eps[0].(map[string]any)
	if ep["port"] != injector.MetricsPortName {
		t.Errorf("port %v, want the injector's %s", ep["port"], injector.MetricsPortName)
	}
	type keep struct{ Source, Regex string }
	var got []keep
	rls, _, _ := unstructured.NestedSlice(ep, "relabelings")
	for _, r := range rls {
		m := r.(map[string]any)
		if m["action"] != "keep" {
			continue
		}
		src, _, _ := unstructured.NestedStringSlice(m, "sourceLabels")
		got = append(got, keep{strings.Join(src, ";"), m["regex"].(string)})
	}
	want := []keep{
		{metaAnnotationLabel(injector.AnnotationStatus), injector.StatusInjected},
		{"__meta_kubernetes_pod_container_name", injector.SidecarName},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keep relabelings (-want +got):\n%s", diff)
	}
}

// TestServiceMonitor: the webhook's metrics are scraped through a Service
// of their own, selecting the webhook pods' metrics port.
func TestServiceMonitor(t *testing.T) {
	helm := helmBinary(t)
	values := renderCaseNamed(t, "monitoring").values
	sms := byKind(t, helm, values, "ServiceMonitor")
	if len(sms) != 1 {
		t.Fatalf("got %d ServiceMonitors, want 1", len(sms))
	}
	sel, _, _ := unstructured.NestedStringMap(sms[0].Object, "spec", "selector", "matchLabels")
	var matched []string
	for _, svc := range byKind(t, helm, values, "Service") {
		labels := svc.GetLabels()
		if !matches(sel, labels) {
			continue
		}
		matched = append(matched, svc.GetName())
		ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
		if len(ports) != 1 || ports[0].(map[string]any)["name"] != "http-metrics" {
			t.Errorf("Service %s ports %v, want http-metrics alone", svc.GetName(), ports)
		}
	}
	if diff := cmp.Diff([]string{"secret-injector-metrics"}, matched); diff != "" {
		t.Errorf("Services the ServiceMonitor selects (-want +got):\n%s", diff)
	}
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// TestAlertRulesAsPrometheusLoadsThem: the PrometheusRule's groups pass
// the validation Prometheus runs when it loads a rule file (what `promtool
// check rules` runs): expressions, durations, label names, and the Go
// templates of labels and annotations, for every TLS mode and failure
// policy that changes them.
func TestAlertRulesAsPrometheusLoadsThem(t *testing.T) {
	helm := helmBinary(t)
	base := renderCaseNamed(t, "monitoring").values
	variants := map[string]map[string]any{
		"monitoring":   nil,
		"cert-manager": {"tls": map[string]any{"mode": "cert-manager"}},
		"secret":       {"tls": map[string]any{"mode": "secret", "secret": map[string]any{"name": "tls", "caBundle": "Cg=="}}},
		"ignore":       {"webhook": map[string]any{"failurePolicy": "Ignore"}},
		"extras":       renderCaseNamed(t, "extras").values,
	}
	for name, extra := range variants {
		t.Run(name, func(t *testing.T) {
			values := map[string]any{}
			for k, v := range base {
				values[k] = v
			}
			for k, v := range extra {
				values[k] = v
			}
			rules := byKind(t, helm, values, "PrometheusRule")
			if len(rules) != 1 {
				t.Fatalf("got %d PrometheusRules, want 1", len(rules))
			}
			spec, _, _ := unstructured.NestedMap(rules[0].Object, "spec")
			content, err := yaml.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			groups, errs := rulefmt.Parse(content, false, model.LegacyValidation, promParser, slog.New(slog.DiscardHandler))
			for _, err := range errs {
				t.Errorf("Prometheus refuses the rules: %v", err)
			}
			if groups != nil && len(groups.Groups) != 3 {
				t.Errorf("%d rule groups, want 3", len(groups.Groups))
			}
		})
	}
}

// TestRuleValidationRejects: the rule check catches what the PromQL
// parser alone does not see.
func TestRuleValidationRejects(t *testing.T) {
	for name, rule := range map[string]string{
		"annotation template": `{alert: A, expr: up == 0, for: 5m, annotations: {summary: "{{ $labels.pod "}}`,
		"for":                 `{alert: A, expr: up == 0, for: 5 minutes}`,
		"label name":          `{alert: A, expr: up == 0, labels: {"team-name": x}}`,
		"expression":          `{alert: A, expr: "sum by (pod) up"}`,
	} {
		content := []byte("groups: [{name: g, rules: [" + rule + "]}]")
		if _, errs := rulefmt.Parse(content, false, model.LegacyValidation, promParser, slog.New(slog.DiscardHandler)); len(errs) == 0 {
			t.Errorf("%s: %s accepted", name, rule)
		}
	}
}
