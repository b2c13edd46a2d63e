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
	"strings"
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
	// Limits are the goal as numbers, for the figure's ratio to its goal;
	// SetGoal fills Goal and Met from them.
	Limits []Limit `json:"limits,omitempty"`
	Note   string  `json:"note,omitempty"`
}

// Limit is one bound of a goal: the median of ours (or, with OfPeer, the
// ratio ours/peer) is at most Value, or with AtLeast at least Value.
type Limit struct {
	Value   float64 `json:"value"`
	OfPeer  bool    `json:"ofPeer,omitempty"`
	AtLeast bool    `json:"atLeast,omitempty"`
	// Text says the bound in words: "< 20 MiB", "≤ 1/4 of vault agent's".
	Text string `json:"text"`
}

// Max is the goal ours ≤ v (text says it, "< 20 MiB").
func Max(v float64, text string) Limit { return Limit{Value: v, Text: text} }

// MaxOfPeer is the goal ours/peer ≤ v.
func MaxOfPeer(v float64, text string) Limit { return Limit{Value: v, OfPeer: true, Text: text} }

// MinOfPeer is the goal ours/peer ≥ v.
func MinOfPeer(v float64, text string) Limit {
	return Limit{Value: v, OfPeer: true, AtLeast: true, Text: text}
}

// Measured is what the limit bounds: ours' median or the ratio to the peer.
func (l Limit) Measured(r Row) float64 {
	if l.OfPeer {
		return r.Ratio()
	}
	return r.Ours.Median
}

// OfGoal is the figure's ratio to the limit (measured/limit): at most 1
// meets a ceiling, at least 1 a floor. A limit of 0 gives 0 when met.
func (l Limit) OfGoal(r Row) float64 {
	if l.Value == 0 {
		return l.Measured(r)
	}
	return l.Measured(r) / l.Value
}

// Meets reports whether the row's medians meet the limit.
func (l Limit) Meets(r Row) bool {
	if l.OfPeer && r.Theirs == nil {
		return false
	}
	if l.AtLeast {
		return l.Measured(r) >= l.Value
	}
	return l.Measured(r) <= l.Value
}

// SetGoal sets the goal's limits, its words and whether it is met (every
// limit is).
func (r *Row) SetGoal(limits ...Limit) {
	r.Limits = limits
	met := true
	var words []string
	for _, l := range limits {
		met = met && l.Meets(*r)
		words = append(words, l.Text)
	}
	r.Goal = strings.Join(words, " and ")
	r.Met = Bool(met)
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
