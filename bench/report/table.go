package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

// printTable writes the machine line, the notes, and one Markdown table
// with a heading row per section.
func printTable(w io.Writer, m map[string]string, files []benchkit.File) {
	fmt.Fprintf(w, "secret-injector benchmarks, %s: %s × %s, %s RAM, %s, load average at the end %s\n\n",
		m["date"], m["cpus"], m["cpu"], m["memory"], m["go"], m["loadavg"])
	fmt.Fprintln(w, "| figure | ours: median [min–max] | peer: median [min–max] | ours/peer | goal | vs goal |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	section := ""
	for _, f := range files {
		for _, r := range f.Rows {
			if r.Section != section {
				section = r.Section
				fmt.Fprintf(w, "| **%s** | | | | | |\n", section)
			}
			peer, ratio := "—", "—"
			if r.Theirs != nil {
				peer = fmt.Sprintf("%s: %s", r.Peer, stat(*r.Theirs, r.Unit))
				ratio = fmt.Sprintf("%.2f×", r.Ratio())
			}
			goal := ""
			if r.Goal != "" {
				verdict := "missed"
				if r.Met != nil && *r.Met {
					verdict = "met"
				}
				goal = fmt.Sprintf("%s: **%s**", r.Goal, verdict)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.Figure, stat(r.Ours, r.Unit), peer, ratio, goal, vsGoal(r))
		}
	}
	var notes []string
	for _, f := range files {
		notes = append(notes, f.Notes...)
	}
	sort.Strings(notes)
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// vsGoal is the figure's ratio to each bound of its goal: measured/limit,
// so a ceiling is met at 1 or less, a floor at 1 or more.
func vsGoal(r benchkit.Row) string {
	var parts []string
	for _, l := range r.Limits {
		if l.OfPeer && r.Theirs == nil {
			parts = append(parts, "no peer figure")
			continue
		}
		if l.Value == 0 {
			parts = append(parts, fmt.Sprintf("%s (goal 0)", num(l.Measured(r))))
			continue
		}
		parts = append(parts, fmt.Sprintf("%.2f of %s", l.OfGoal(r), strings.TrimSpace(l.Text)))
	}
	return strings.Join(parts, "; ")
}

// stat formats a median and its spread; one sample has no spread.
func stat(s benchkit.Stat, unit string) string {
	if s.N <= 1 {
		return fmt.Sprintf("%s %s", num(s.Median), unit)
	}
	return fmt.Sprintf("%s %s [%s–%s] (n=%d)", num(s.Median), unit, num(s.Min), num(s.Max), s.N)
}

func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return strings.TrimSuffix(fmt.Sprintf("%.0f", v), ".0")
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
