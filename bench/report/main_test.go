package main

import (
	"os"
	"path/filepath"
	"testing"
)

// parseGoTest must find allocations per admission in `go test -bench
// -benchmem` output, as the table reports them.
func TestParseGoTest(t *testing.T) {
	out := `goos: linux
BenchmarkAdmission/ours-2         	    1450	    803221 ns/op	   2.90 MB/s	  169232 B/op	    2133 allocs/op
BenchmarkAdmission/ours-2         	    1678	    776784 ns/op	   3.00 MB/s	  168443 B/op	    2127 allocs/op
BenchmarkAdmission/noop-2         	   16338	     72612 ns/op	  32.12 MB/s	   17920 B/op	      93 allocs/op
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
	if allocs.Ours.N != 2 || allocs.Ours.Median != 2130 || allocs.Theirs == nil || allocs.Theirs.Median != 93 {
		t.Fatalf("allocations row %+v", allocs)
	}
}
