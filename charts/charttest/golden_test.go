package charttest

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the chart")

// TestGolden renders every case and compares it with its golden file, so a
// change to the chart shows up as a reviewable diff of what is installed.
func TestGolden(t *testing.T) {
	helm := helmBinary(t)
	cases := renderCases(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Template(helm, c.values, testNamespace)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(got); err != nil {
				t.Fatalf("render is not valid YAML: %v", err)
			}
			golden := filepath.Join("testdata", c.name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s is missing: run go test ./charts/charttest -run TestGolden -update", golden)
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s is stale (-golden +render); run with -update if the change is meant:\n%s", golden, diff)
			}
		})
	}

	t.Run("no orphan goldens", func(t *testing.T) {
		goldens, err := filepath.Glob(filepath.Join("testdata", "*.golden.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		known := map[string]bool{}
		for _, c := range cases {
			known[c.name] = true
		}
		for _, g := range goldens {
			if known[strings.TrimSuffix(filepath.Base(g), ".golden.yaml")] {
				continue
			}
			if *update {
				if err := os.Remove(g); err != nil {
					t.Fatal(err)
				}
				continue
			}
			t.Errorf("%s has no %s.values.yaml: remove it or run with -update", g, strings.TrimSuffix(filepath.Base(g), ".golden.yaml"))
		}
	})
}

// TestLint runs helm lint --strict with the defaults and with each case's
// values: the checks `helm install` users get, warnings included.
func TestLint(t *testing.T) {
	helm := helmBinary(t)
	for _, c := range renderCases(t) {
		t.Run(c.name, func(t *testing.T) {
			if _, err := runHelm(helm, "lint", "--strict", ChartDir(),
				"--namespace", testNamespace, "--values", c.valuesFile); err != nil {
				t.Error(err)
			}
		})
	}
}
