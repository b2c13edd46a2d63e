package charttest

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// renderSet renders the chart with `helm template --set` flags, the way an
// operator types values: helm turns "false" into a boolean and "1" into an
// integer before the schema sees them.
func renderSet(helm string, sets ...string) ([]*unstructured.Unstructured, error) {
	args := []string{"template", ReleaseName, ChartDir(), "--namespace", testNamespace}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	manifest, err := runHelm(helm, args...)
	if err != nil {
		return nil, err
	}
	return Decode(manifest)
}

// booleanValues lists the dotted paths of every value the schema lets be a
// boolean.
func booleanValues(t *testing.T) []string {
	t.Helper()
	var out []string
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		isBool := s["type"] == "boolean"
		if types, ok := s["type"].([]any); ok && slices.Contains(types, any("boolean")) {
			isBool = true
		}
		if isBool {
			out = append(out, strings.TrimPrefix(path, "."))
		}
		if props, ok := s["properties"].(map[string]any); ok {
			for k, v := range props {
				if sub, ok := v.(map[string]any); ok {
					walk(path+"."+k, sub)
				}
			}
		}
	}
	walk("", loadSchema(t))
	slices.Sort(out)
	return out
}

// TestBooleansFromTheCommandLine: every boolean value takes `--set x=false`
// and `--set x=true` (issue #13: `--set defaults.nativeSidecars=false` was
// refused, "got boolean, want string"). allowHostNetwork is the one value
// that must stay false.
func TestBooleansFromTheCommandLine(t *testing.T) {
	helm := helmBinary(t)
	bools := booleanValues(t)
	for _, want := range []string{"defaults.allowHostNetwork", "defaults.nativeSidecars", "podDisruptionBudget.enabled", "serviceAccount.create"} {
		if !slices.Contains(bools, want) {
			t.Errorf("schema: %s is not a boolean (booleans found: %v)", want, bools)
		}
	}
	for _, v := range []string{"false", "true"} {
		t.Run(v, func(t *testing.T) {
			var sets []string
			for _, b := range bools {
				if b == "defaults.allowHostNetwork" && v == "true" {
					continue
				}
				sets = append(sets, b+"="+v)
			}
			if _, err := renderSet(helm, sets...); err != nil {
				t.Fatalf("--set %s: %v", strings.Join(sets, " --set "), err)
			}
		})
	}
}

// TestSetOnCommandLine: values typed on the command line reach the
// templates as meant, whatever type helm gave them.
func TestSetOnCommandLine(t *testing.T) {
	helm := helmBinary(t)
	tests := []struct {
		set   []string
		check func(t *testing.T, objs []*unstructured.Unstructured)
	}{
		{[]string{"defaults.nativeSidecars=false"}, wantFlag("native-sidecars", "false")},
		{[]string{"defaults.nativeSidecars=true"}, wantFlag("native-sidecars", "true")},
		{[]string{"defaults.nativeSidecars=auto"}, wantFlag("native-sidecars", "auto")},
		{[]string{"podDisruptionBudget.enabled=false"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, o := range objs {
				if o.GetKind() == "PodDisruptionBudget" {
					t.Error("PodDisruptionBudget rendered with podDisruptionBudget.enabled=false")
				}
			}
		}},
		// GCP project numbers, numeric image tags and plain quantities are
		// integers to helm.
		{[]string{"defaults.gcp.project=123456789012"}, wantFlag("gcp-project", "123456789012")},
		{[]string{"defaults.agent.resources.cpuRequest=1"}, wantFlag("agent-cpu-request", "1")},
		{[]string{"image.tag=2", "defaults.agent.image.tag=3"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			wantFlag("agent-image", "ghcr.io/tradepulse/secret-injector:3")(t, objs)
			for _, o := range objs {
				if o.GetKind() != "Deployment" {
					continue
				}
				cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
				if img := cs[0].(map[string]any)["image"]; img != "ghcr.io/tradepulse/secret-injector:2" {
					t.Errorf("webhook image %v, want ghcr.io/tradepulse/secret-injector:2", img)
				}
			}
		}},
		{[]string{"monitoring.dashboard.enabled=true", "monitoring.dashboard.sidecarLabelValue=1"}, func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, o := range objs {
				if o.GetKind() == "ConfigMap" {
					if got := o.GetLabels()["grafana_dashboard"]; got != "1" {
						t.Errorf("grafana_dashboard label %q, want \"1\"", got)
					}
					return
				}
			}
			t.Error("no dashboard ConfigMap")
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.set, ","), func(t *testing.T) {
			objs, err := renderSet(helm, tt.set...)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, objs)
		})
	}
}

// TestNumbersInValuesFiles: a values file's numbers reach helm as float64;
// whole ones are still written in full (not 1.23456789012e+11).
func TestNumbersInValuesFiles(t *testing.T) {
	helm := helmBinary(t)
	objs, err := Render(helm, map[string]any{"defaults": map[string]any{
		"gcp":             map[string]any{"project": 123456789012},
		"volumeSizeLimit": 4194304,
		"nativeSidecars":  false,
	}}, testNamespace)
	if err != nil {
		t.Fatal(err)
	}
	wantFlag("gcp-project", "123456789012")(t, objs)
	wantFlag("volume-size-limit", "4194304")(t, objs)
	wantFlag("native-sidecars", "false")(t, objs)
}

func wantFlag(name, want string) func(t *testing.T, objs []*unstructured.Unstructured) {
	return func(t *testing.T, objs []*unstructured.Unstructured) {
		t.Helper()
		if _, flags := webhookArgs(t, objs); flags[name] != want {
			t.Errorf("--%s=%q, want %q", name, flags[name], want)
		}
	}
}
