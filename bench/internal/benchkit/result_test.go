package benchkit

import (
	"path/filepath"
	"testing"
)

// The table's median and spread come from Summarize; a wrong median would
// misreport every figure.
func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		in       []float64
		med, min float64
		max      float64
	}{
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
		{[]float64{7}, 7, 7, 7},
	} {
		s := Summarize(c.in)
		if s.Median != c.med || s.Min != c.min || s.Max != c.max || s.N != len(c.in) {
			t.Errorf("Summarize(%v) = %+v, want median %v [%v–%v]", c.in, s, c.med, c.min, c.max)
		}
	}
	if s := Summarize(nil); s.N != 0 {
		t.Errorf("Summarize(nil).N = %d", s.N)
	}
}

// A result file must read back as written: bench/report merges them.
func TestFileRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x", "r.json")
	theirs := Summarize([]float64{4})
	in := File{Name: "x", Rows: []Row{{Figure: "f", Unit: "ms", Ours: Summarize([]float64{1, 2}), Peer: "p", Theirs: &theirs}}}
	if err := in.Write(p); err != nil {
		t.Fatal(err)
	}
	out, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rows) != 1 || out.Rows[0].Ratio() != 1.5/4 {
		t.Fatalf("read back %+v", out)
	}
}
