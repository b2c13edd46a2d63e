package charttest

import (
	"strings"
	"testing"
)

// TestLongNames: with the longest allowed full name every object's name
// still fits Kubernetes' 63-character limit, and derived names keep their
// suffix, so that two objects never collapse into one name.
func TestLongNames(t *testing.T) {
	helm := helmBinary(t)
	long := strings.Repeat("a", 62) + "z"
	values := map[string]any{
		"fullnameOverride": long,
		"tls":              map[string]any{"mode": "cert-manager"},
		"monitoring": map[string]any{
			"podMonitor":     map[string]any{"enabled": true},
			"serviceMonitor": map[string]any{"enabled": true},
			"prometheusRule": map[string]any{"enabled": true},
			"dashboard":      map[string]any{"enabled": true},
		},
	}
	objs, err := Render(helm, values, testNamespace)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		name := o.GetName()
		if len(name) > 63 {
			t.Errorf("%s %s: %d characters", o.GetKind(), name, len(name))
		}
		key := o.GetKind() + "/" + name
		if seen[key] {
			t.Errorf("two objects named %s", key)
		}
		seen[key] = true
	}
	for _, want := range []string{"Certificate/" + long[:60] + "-ca", "Certificate/" + long[:59] + "-tls",
		"Issuer/" + long[:52] + "-selfsigned", "Service/" + long[:55] + "-metrics", "PodMonitor/" + long[:56] + "-agents"} {
		if !seen[want] {
			t.Errorf("no %s", want)
		}
	}
}
