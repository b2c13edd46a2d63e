package main

import (
	"fmt"
	"time"

	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

// rows turns the samples into the table's rows, with the goals.
func rows(oi, ti []initSample, os, ts []sidecarSample, steady time.Duration) []benchkit.Row {
	section := fmt.Sprintf("agent vs vault agent, same Vault: 20 secrets (19 KV v2 + 1 database lease), AppRole; steady period %s", steady)
	if steady < 5*time.Minute {
		section += " (the issue asks for 5m: BENCH_STEADY=5m)"
	}
	pick := func(f func(initSample) float64, s []initSample) benchkit.Stat {
		var v []float64
		for _, x := range s {
			v = append(v, f(x))
		}
		return benchkit.Summarize(v)
	}
	pickS := func(f func(sidecarSample) float64, s []sidecarSample) benchkit.Stat {
		var v []float64
		for _, x := range s {
			v = append(v, f(x))
		}
		return benchkit.Summarize(v)
	}
	row := func(fig, unit string, o, t benchkit.Stat) benchkit.Row {
		return benchkit.Row{Section: section, Figure: fig, Unit: unit, Ours: o, Peer: "vault agent", Theirs: &t}
	}
	var out []benchkit.Row

	r := row("init: start → all files written", "ms", pick(func(s initSample) float64 { return s.FilesMs }, oi), pick(func(s initSample) float64 { return s.FilesMs }, ti))
	r.SetGoal(benchkit.MaxOfPeer(0.25, "≤ 1/4 of vault agent's"))
	out = append(out, r)
	out = append(out, row("init: start → exit", "ms", pick(func(s initSample) float64 { return s.ExitMs }, oi), pick(func(s initSample) float64 { return s.ExitMs }, ti)))
	out = append(out, row("init: peak RSS", "MiB", pick(func(s initSample) float64 { return benchkit.MiB(s.PeakRSSKiB) }, oi), pick(func(s initSample) float64 { return benchkit.MiB(s.PeakRSSKiB) }, ti)))
	r = row("sidecar: start → all files written", "ms", pickS(func(s sidecarSample) float64 { return s.FilesMs }, os), pickS(func(s sidecarSample) float64 { return s.FilesMs }, ts))
	r.SetGoal(benchkit.MaxOfPeer(1.0/3, "≤ 1/3 of vault agent's"))
	out = append(out, r)

	memRow := func(fig string, get func(sidecarSample) benchkit.Mem, part func(benchkit.Mem) int, goal bool) {
		r := row(fig, "MiB", pickS(func(s sidecarSample) float64 { return benchkit.MiB(part(get(s))) }, os),
			pickS(func(s sidecarSample) float64 { return benchkit.MiB(part(get(s))) }, ts))
		if goal {
			r.SetGoal(benchkit.Max(20, "< 20 MiB"), benchkit.MaxOfPeer(0.25, "≤ 1/4 of vault agent's"))
		}
		out = append(out, r)
	}
	after := func(s sidecarSample) benchkit.Mem { return s.AfterRender }
	st := func(s sidecarSample) benchkit.Mem { return s.Steady }
	rss := func(m benchkit.Mem) int { return m.RSSKiB }
	anon := func(m benchkit.Mem) int { return m.AnonKiB }
	file := func(m benchkit.Mem) int { return m.FileKiB }
	memRow("sidecar: RSS after first render", after, rss, true)
	memRow("sidecar: anonymous RSS after first render", after, anon, false)
	memRow(fmt.Sprintf("sidecar: RSS after %s steady", steady), st, rss, true)
	memRow(fmt.Sprintf("sidecar: anonymous RSS after %s steady", steady), st, anon, false)
	memRow(fmt.Sprintf("sidecar: file-backed RSS after %s steady", steady), st, file, false)
	out = append(out, row(fmt.Sprintf("sidecar: CPU over %s steady", steady), "ms",
		pickS(func(s sidecarSample) float64 { return s.SteadyCPUs * 1000 }, os),
		pickS(func(s sidecarSample) float64 { return s.SteadyCPUs * 1000 }, ts)))
	return out
}
