package main

import (
	"fmt"
	"time"

	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

// writeFile writes the runs as a benchkit.File, so that bench/report puts
// them in the one table.
func writeFile(out string, n int, steady time.Duration, samples []sample) error {
	const section = "agent on the env backend (no network; the floor of our agent's cost)"
	pick := func(f func(sample) float64) benchkit.Stat {
		var v []float64
		for _, s := range samples {
			v = append(v, f(s))
		}
		return benchkit.Summarize(v)
	}
	mib := func(kib int) float64 { return benchkit.MiB(kib) }
	f := benchkit.File{
		Name:   "agent",
		Params: map[string]any{"secrets": n, "backend": "env", "runs": len(samples), "steady": steady.String()},
		Raw:    samples,
		Rows: []benchkit.Row{
			{Section: section, Figure: fmt.Sprintf("init: start → %d files written, exit", n), Unit: "ms", Ours: pick(func(s sample) float64 { return s.InitSeconds * 1000 })},
			{Section: section, Figure: "init: peak RSS", Unit: "MiB", Ours: pick(func(s sample) float64 { return mib(s.InitRSSKiB) })},
			{Section: section, Figure: "sidecar: start → all files written", Unit: "ms", Ours: pick(func(s sample) float64 { return s.SidecarSeconds * 1000 })},
			{Section: section, Figure: "sidecar: RSS after first render", Unit: "MiB", Ours: pick(func(s sample) float64 { return mib(s.SidecarRSSKiB) })},
			{Section: section, Figure: fmt.Sprintf("sidecar: RSS after %s", steady), Unit: "MiB", Ours: pick(func(s sample) float64 { return mib(s.SidecarSteadyKiB) })},
			{Section: section, Figure: fmt.Sprintf("sidecar: anonymous RSS after %s", steady), Unit: "MiB", Ours: pick(func(s sample) float64 { return mib(s.SidecarAnonKiB) })},
		},
	}
	return f.Write(out)
}
