package charttest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// testNamespace is the release namespace of every golden render.
const testNamespace = "secret-injector"

// helmBinary finds helm, or skips the test locally and fails it in CI,
// where the chart must be checked.
func helmBinary(t *testing.T) string {
	t.Helper()
	p, err := FindHelm()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: the chart tests may not be skipped)", err)
		}
		t.Skipf("%v; build it with: eval \"$(hack/k8s-tools.sh env)\"", err)
	}
	return p
}

// renderCase is one input of the render tests: testdata/<name>.values.yaml.
type renderCase struct {
	name       string
	valuesFile string
	values     map[string]any
}

// renderCases discovers the cases, sorted by name.
func renderCases(t *testing.T) []renderCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var cases []renderCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.UnmarshalStrict(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cases = append(cases, renderCase{
			name:       strings.TrimSuffix(filepath.Base(f), ".values.yaml"),
			valuesFile: f,
			values:     v,
		})
	}
	if len(cases) == 0 {
		t.Fatal("no testdata/*.values.yaml")
	}
	return cases
}

// renderCaseNamed returns the case called name.
func renderCaseNamed(t *testing.T, name string) renderCase {
	t.Helper()
	for _, c := range renderCases(t) {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no case %q in testdata", name)
	return renderCase{}
}
