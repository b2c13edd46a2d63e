package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

// parseGoTest must find allocations per admission in `go test -bench
// -benchmem` output, as the table reports them.
func TestParseGoTest(t *testing.T) {
	out := `goos: linux
BenchmarkAdmission/ours-2         	    1450	    803221 ns/op	   2.90 MB/s	  169232 B/op	    2133 allocs/op
BenchmarkAdmission/ours-2         	    1678	    776784 ns/op	   3.00 MB/s	  168443 B/op	    2127 allocs/op
BenchmarkAdmission/noop-2         	   16338	     72612 ns/op	  32.12 MB/s	   17920 B/op	      93 allocs/op
BenchmarkAdmission/ours-2         	    2894	    350422 ns/op	   6.65 MB/s	    215414 cpu-ns/op	   69139 B/op	     475 allocs/op
BenchmarkAdmission/ours-injected-2         	    5445	    326159 ns/op	  24.30 MB/s	    100000 cpu-ns/op	   84175 B/op	     818 allocs/op
PASS
`
	p := filepath.Join(t.TempDir(), "gotest.txt")
	if err := os.WriteFile(p, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := parseGoTest(p)
	if err != nil {
		t.Fatal(err)
	}
	allocs := f.Rows[0]
	if allocs.Ours.N != 3 || allocs.Ours.Median != 2127 || allocs.Theirs == nil || allocs.Theirs.Median != 93 || *allocs.Met {
		t.Fatalf("allocations row %+v", allocs)
	}
	var injected *benchkit.Row
	for i, r := range f.Rows {
		if strings.Contains(r.Figure, "CPU per admission of an already-injected pod") {
			injected = &f.Rows[i]
		}
	}
	if injected == nil || injected.Ours.Median != 100 || math.Abs(injected.Theirs.Median-215.414) > 1e-9 || !*injected.Met {
		t.Fatalf("already-injected row %+v", injected)
	}
	if got := vsGoal(*injected); got != "0.93 of ≤ 1/2 of a first admission's" {
		t.Errorf("vs goal %q", got)
	}
}
