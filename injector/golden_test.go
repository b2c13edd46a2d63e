package injector

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testOptions is the cluster every golden case runs in, unless its
// <case>.opts.yaml overrides a field. Fields left zero take the defaults,
// so the goldens also pin those.
func testOptions() Options {
	return Options{
		DefaultBackend:  "gcp",
		EnabledBackends: []string{"gcp", "vault", "aws", "env"},
		AgentImage:      "ghcr.io/tradepulse/secret-injector:v0.1.0",
		AllowedImages:   []string{"ghcr.io/tradepulse/secret-injector:", "registry.tradepulse.internal/platform/"},
		NativeSidecars:  true,
		Vault: VaultDefaults{
			Address:          "https://vault.vault.svc:8200",
			AllowedAddresses: []string{"https://vault-dr.vault.svc:8200"},
			// For the documented vault-namespace example.
			AllowedNamespaces: []string{"trading/prod"},
		},
		GCPProject:         "tradepulse-prod",
		AWSRegion:          "eu-west-1",
		AWSAllowedRoleARNs: []string{"arn:aws:iam::111122223333:role/tradepulse-*"},
	}
}

// optsOverride is the shape of <case>.opts.yaml: the Options fields a case
// may change.
type optsOverride struct {
	NativeSidecars  *bool    `json:"nativeSidecars"`
	DefaultBackend  *string  `json:"defaultBackend"`
	EnabledBackends []string `json:"enabledBackends"`
	VaultRole       *string  `json:"vaultRole"`
	// The Vault connection (vaultconn.go).
	VaultCABundle          *VaultCABundle `json:"vaultCABundle"`
	VaultAllowedNamespaces []string       `json:"vaultAllowedNamespaces"`
}

func caseOptions(t *testing.T, name string) Options {
	t.Helper()
	opts := testOptions()
	data, err := os.ReadFile(filepath.Join("testdata", name+".opts.yaml"))
	if os.IsNotExist(err) {
		return opts
	}
	if err != nil {
		t.Fatal(err)
	}
	var o optsOverride
	if err := yaml.UnmarshalStrict(data, &o); err != nil {
		t.Fatalf("%s.opts.yaml: %v", name, err)
	}
	if o.NativeSidecars != nil {
		opts.NativeSidecars = *o.NativeSidecars
	}
	if o.DefaultBackend != nil {
		opts.DefaultBackend = *o.DefaultBackend
	}
	if o.EnabledBackends != nil {
		opts.EnabledBackends = o.EnabledBackends
	}
	if o.VaultCABundle != nil {
		opts.Vault.CABundle = o.VaultCABundle
	}
	if o.VaultAllowedNamespaces != nil {
		opts.Vault.AllowedNamespaces = o.VaultAllowedNamespaces
	}
	if o.VaultRole != nil {
		opts.Vault.Role = *o.VaultRole
	}
	return opts
}

func readPod(t testing.TB, path string) *corev1.Pod {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(data, &pod); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &pod
}

func marshalPod(t testing.TB, pod *corev1.Pod) string {
	t.Helper()
	out, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// checkGolden compares got with the golden file, or rewrites it under
// -update. A missing golden fails.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./injector -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s is stale (-golden +got; go test ./injector -update rewrites it):\n%s", path, diff)
	}
}

// checkAbsent fails if a golden of the other kind exists: a case that now
// injects must not keep an old denial, and the other way round.
func checkAbsent(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		if *update {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s is stale: the case no longer produces it (-update removes it)", path)
	}
}

// TestGolden injects every testdata/<case>.in.yaml and compares the result
// with <case>.golden.yaml (the injected pod) or <case>.err.golden (the
// denial). Re-injecting every injected pod must change nothing.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs in testdata/: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			pod := readPod(t, in)
			opts := caseOptions(t, name)
			before := marshalPod(t, pod)
			podGolden := filepath.Join("testdata", name+".golden.yaml")
			errGolden := filepath.Join("testdata", name+".err.golden")

			changed, err := Inject(pod, opts)
			after := marshalPod(t, pod)
			if err != nil {
				if diff := cmp.Diff(before, after); diff != "" {
					t.Errorf("a denied pod was modified (-before +after):\n%s", diff)
				}
				if changed {
					t.Error("changed = true with an error")
				}
				checkGolden(t, errGolden, err.Error()+"\n")
				checkAbsent(t, podGolden)
				return
			}
			if changed != (before != after) {
				t.Errorf("changed = %v, but the pod did%s change", changed, map[bool]string{true: "", false: " not"}[before != after])
			}
			checkGolden(t, podGolden, after)
			checkAbsent(t, errGolden)
			if changed {
				checkAgentConfigs(t, pod)
			}

			t.Run("idempotent", func(t *testing.T) {
				again := pod.DeepCopy()
				changed, err := Inject(again, opts)
				if err != nil {
					t.Fatalf("re-injecting: %v", err)
				}
				if changed {
					t.Error("re-injecting reported changed = true")
				}
				if diff := cmp.Diff(after, marshalPod(t, again)); diff != "" {
					t.Errorf("re-injecting changed the pod (-once +twice):\n%s", diff)
				}
			})
		})
	}
}

// TestGoldenOrphans fails on goldens and option files whose input is gone.
func TestGoldenOrphans(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		for _, suffix := range []string{".golden.yaml", ".err.golden", ".opts.yaml"} {
			if name, ok := strings.CutSuffix(base, suffix); ok {
				if _, err := os.Stat(filepath.Join("testdata", name+".in.yaml")); err != nil {
					t.Errorf("%s has no %s.in.yaml", f, name)
				}
			}
		}
	}
}
