// Package benchkit holds what the benchmark programs under bench/ share:
// the result file every program writes (figures with median and spread,
// against a peer where there is one), process probes (/proc RSS and CPU),
// and small helpers. No figure is a pass/fail test: a goal is reported as
// met or missed, never enforced.
package benchkit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Stat is the median and spread of repeated measurements.
type Stat struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	N      int       `json:"n"`
	Values []float64 `json:"values"`
}

// Summarize computes a Stat; an empty input gives N=0.
func Summarize(values []float64) Stat {
	if len(values) == 0 {
		return Stat{}
	}
	v := slices.Clone(values)
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Stat{Median: med, Min: v[0], Max: v[len(v)-1], N: len(v), Values: values}
}

// Row is one figure of the final table: ours, and where there is one, the
// peer's figure (vault agent, the no-op handler) and the ratio ours/peer.
type Row struct {
	Section string `json:"section"`
	Figure  string `json:"figure"`
	Unit    string `json:"unit"`
	Ours    Stat   `json:"ours"`
	// Peer names what Theirs measures ("vault agent", "no-op handler").
	Peer   string `json:"peer,omitempty"`
	Theirs *Stat  `json:"theirs,omitempty"`
	// Goal is the goal for this figure in words, Met whether the
	// medians meet it (nil: no goal).
	Goal string `json:"goal,omitempty"`
	Met  *bool  `json:"met,omitempty"`
	Note string `json:"note,omitempty"`
}

// Ratio is ours/theirs of the medians, or 0 without a peer figure.
func (r Row) Ratio() float64 {
	if r.Theirs == nil || r.Theirs.Median == 0 {
		return 0
	}
	return r.Ours.Median / r.Theirs.Median
}

// File is what every bench program writes under .bench/.
type File struct {
	Name   string   `json:"name"`
	Params any      `json:"params,omitempty"`
	Rows   []Row    `json:"rows"`
	Notes  []string `json:"notes,omitempty"`
	Raw    any      `json:"raw,omitempty"`
}

// Write writes f as indented JSON to path, creating its directory.
func (f File) Write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Read reads a File written by Write.
func Read(path string) (File, error) {
	var f File
	b, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Bool returns a pointer to b, for Row.Met.
func Bool(b bool) *bool { return &b }
