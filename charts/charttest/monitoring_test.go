package charttest

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tradepulse/secret-injector/injector"
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
			for _, k := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(ann[k]) == "" {
					t.Errorf("alert %s: no %s annotation", name, k)
				}
			}
		}
	}
	want := []string{"SecretRefreshFailing", "SecretLeaseExpiringSoon", "SecretInjectorWebhookErrors", "SecretInjectorWebhookDenialsSpike"}
	if diff := cmp.Diff(want, alerts); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
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
