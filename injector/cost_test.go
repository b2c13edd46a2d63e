package injector

import (
	"fmt"
	"strings"
	"testing"
)

// hugeAnnotations is the valid base plus n unknown keys under our prefix,
// each with a value of valueLen bytes: the "huge pod" of issue #13 is
// 37,000 such keys in a ~3 MB pod. The API server checks the 256 KiB limit
// on annotations only after mutating webhooks, so the webhook sees them all.
func hugeAnnotations(n, valueLen int) map[string]string {
	ann := validAnnotations()
	v := strings.Repeat("v", valueLen)
	for i := range n {
		ann[fmt.Sprintf("%sunknown-key-%06d", Prefix, i)] = v
	}
	return ann
}

// TestHugePodsCostLittle: however many keys a pod carries, a denial costs a
// bounded number of allocations (no timing asserts: allocations are the
// deterministic proxy for the work done).
func TestHugePodsCostLittle(t *testing.T) {
	tests := []struct {
		name      string
		ann       map[string]string
		maxAllocs float64
		want      string // the denial's first line
		lines     int
	}{
		{"37,000 unknown keys, 3 MB", hugeAnnotations(37000, 50), 60,
			"annotation secrets.tradepulse.io/*: the pod's annotations total 3330093 bytes, over the 262144 bytes Kubernetes allows (the API server would refuse the pod)", 1},
		{"5,000 unknown keys within 256 KiB", hugeAnnotations(5000, 10), 60,
			"annotation secrets.tradepulse.io/*: the pod has 5002 annotations under secrets.tradepulse.io/, more than the 533 a pod can use with this cluster's 64 secrets per pod", 1},
		// Under both caps: every key is read, but only the shown ones get
		// a "did you mean".
		// (-race adds a few allocations: the bound leaves room.)
		{"400 unknown keys", hugeAnnotations(400, 10), 3000,
			"annotation secrets.tradepulse.io/unknown-key-000000: unknown key; ANNOTATIONS.md lists the keys under secrets.tradepulse.io/", maxProblems + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := fuzzPod(tt.ann)
			opts := testOptions()
			var err error
			allocs := testing.AllocsPerRun(3, func() { _, err = Inject(pod, opts) })
			if err == nil {
				t.Fatal("injected")
			}
			lines := strings.Split(err.Error(), "\n")
			if lines[0] != tt.want || len(lines) != tt.lines {
				t.Errorf("denial has %d lines, starting\n%s\nwant %d lines, starting\n%s", len(lines), lines[0], tt.lines, tt.want)
			}
			t.Logf("%.0f allocations per call", allocs)
			if allocs > tt.maxAllocs {
				t.Errorf("Inject allocates %.0f times per call, want at most %.0f", allocs, tt.maxAllocs)
			}
		})
	}
}

// BenchmarkInjectHugePod is the issue's pod: `go test -bench HugePod
// ./injector` shows its cost per admission (before the caps: ~360 ms,
// 58 MB and 740,000 allocations per call).
func BenchmarkInjectHugePod(b *testing.B) {
	pod := fuzzPod(hugeAnnotations(37000, 50))
	opts := testOptions()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Inject(pod, opts); err == nil {
			b.Fatal("injected")
		}
	}
}
