// Command report merges the result files the bench programs wrote into one
// Markdown table on stdout: every figure with its median, spread, the
// peer's figure, the ratio ours/peer and the goal, under a line
// describing the machine. It also turns `go test -bench -benchmem` output
// into rows (allocations per admission) and writes the merged figures as
// JSON.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

func main() {
	gotest := flag.String("gotest", "", "output of go test -bench -benchmem for the webhook handlers")
	out := flag.String("out", ".bench/all.json", "merged figures (JSON)")
	benchkit.Main("report", func() error { return run(flag.Args(), *gotest, *out) })
}

// run prints the table of the result files at paths and of the go test
// output at gotest (when set), and writes the merged figures to out. A
// file it cannot read is skipped, with a word on stderr.
func run(paths []string, gotest, out string) error {
	var files []benchkit.File
	for _, p := range paths {
		f, err := benchkit.Read(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "report: %v (skipped)\n", err)
			continue
		}
		files = append(files, f)
	}
	if gotest != "" {
		f, err := parseGoTest(gotest)
		if err != nil {
			fmt.Fprintf(os.Stderr, "report: %v (skipped)\n", err)
		} else {
			// Allocations belong with the webhook's other figures.
			at := len(files)
			for i, g := range files {
				if g.Name == "webhook" {
					at = i + 1
				}
			}
			files = slices.Insert(files, at, f)
		}
	}
	m := machine()
	printTable(os.Stdout, m, files)
	all := benchkit.File{Name: "all", Params: m}
	for _, f := range files {
		all.Rows = append(all.Rows, f.Rows...)
		all.Notes = append(all.Notes, f.Notes...)
	}
	return all.Write(out)
}

// machine describes where the figures were taken.
func machine() map[string]string {
	m := map[string]string{
		"date": time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		"cpus": strconv.Itoa(runtime.NumCPU()),
		"go":   runtime.Version(),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "MemTotal:" {
				kib, _ := strconv.Atoi(f[1])
				m["memory"] = fmt.Sprintf("%.1f GiB", float64(kib)/1024/1024)
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m["loadavg"] = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}

var benchLine = regexp.MustCompile(`^BenchmarkAdmission/([\w-]+)-\d+\s+\d+\s+(.*)$`)

// parseGoTest reads BenchmarkAdmission results (several -count runs):
// each line's metrics by unit (ns/op, cpu-ns/op, B/op, allocs/op).
func parseGoTest(path string) (benchkit.File, error) {
	f := benchkit.File{Name: "webhook-allocs"}
	fh, err := os.Open(path)
	if err != nil {
		return f, err
	}
	defer fh.Close()
	// metric unit -> case -> values
	m := map[string]map[string][]float64{}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		g := benchLine.FindStringSubmatch(sc.Text())
		if g == nil {
			continue
		}
		fs := strings.Fields(g[2])
		for i := 0; i+1 < len(fs); i += 2 {
			v, err := strconv.ParseFloat(fs[i], 64)
			if err != nil {
				continue
			}
			if m[fs[i+1]] == nil {
				m[fs[i+1]] = map[string][]float64{}
			}
			m[fs[i+1]][g[1]] = append(m[fs[i+1]][g[1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return f, err
	}
	if len(m["allocs/op"]["ours"]) == 0 || len(m["allocs/op"]["noop"]) == 0 {
		return f, fmt.Errorf("%s: no BenchmarkAdmission results", path)
	}
	scale := func(unit string, k float64) map[string][]float64 {
		out := map[string][]float64{}
		for c, vs := range m[unit] {
			for _, v := range vs {
				out[c] = append(out[c], v*k)
			}
		}
		return out
	}
	const section = "webhook vs no-op controller-runtime handler (TLS, realistic annotated pod)"
	row := func(fig, unit string, v map[string][]float64, ours, peerCase, peer string) benchkit.Row {
		r := benchkit.Row{Section: section, Figure: fig, Unit: unit, Ours: benchkit.Summarize(v[ours])}
		if t := v[peerCase]; len(t) > 0 {
			ts := benchkit.Summarize(t)
			r.Peer, r.Theirs = peer, &ts
		}
		return r
	}
	allocs, bytes, cpu, ns := m["allocs/op"], scale("B/op", 1.0/1024), scale("cpu-ns/op", 1.0/1000), scale("ns/op", 1.0/1000)
	r := row("go test -bench: allocations per admission", "allocs", allocs, "ours", "noop", "no-op handler")
	r.SetGoal(benchkit.Max(600, "≤ 600"))
	f.Rows = append(f.Rows, r)
	f.Rows = append(f.Rows, row("go test -bench: bytes allocated per admission", "KiB", bytes, "ours", "noop", "no-op handler"))
	if len(cpu["ours"]) > 0 {
		r = row("go test -bench: CPU per admission (user+system, GC included)", "µs", cpu, "ours", "noop", "no-op handler")
		r.SetGoal(benchkit.Max(250, "≤ 0.25 ms"))
		f.Rows = append(f.Rows, r)
	}
	f.Rows = append(f.Rows, row("go test -bench: time per admission (one goroutine, no TLS)", "µs", ns, "ours", "noop", "no-op handler"))
	if len(cpu["ours-injected"]) > 0 {
		r = row("go test -bench: CPU per admission of an already-injected pod", "µs", cpu, "ours-injected", "ours", "first admission")
		r.SetGoal(benchkit.MaxOfPeer(0.5, "≤ 1/2 of a first admission's"))
		f.Rows = append(f.Rows, r)
		f.Rows = append(f.Rows, row("go test -bench: allocations per admission of an already-injected pod", "allocs", allocs, "ours-injected", "ours", "first admission"))
	}
	return f, nil
}
