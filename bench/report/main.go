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
	flag.Parse()
	var files []benchkit.File
	for _, p := range flag.Args() {
		f, err := benchkit.Read(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "report: %v (skipped)\n", err)
			continue
		}
		files = append(files, f)
	}
	if *gotest != "" {
		f, err := parseGoTest(*gotest)
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
	if err := all.Write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
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

var benchLine = regexp.MustCompile(`^BenchmarkAdmission/(\w+)-\d+\s+\d+\s+([\d.]+) ns/op(?:\s+[\d.]+ MB/s)?\s+(\d+) B/op\s+(\d+) allocs/op`)

// parseGoTest reads BenchmarkAdmission results (several -count runs).
func parseGoTest(path string) (benchkit.File, error) {
	f := benchkit.File{Name: "webhook-allocs"}
	fh, err := os.Open(path)
	if err != nil {
		return f, err
	}
	defer fh.Close()
	ns, bytes, allocs := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v := func(s string) float64 { x, _ := strconv.ParseFloat(s, 64); return x }
		ns[m[1]] = append(ns[m[1]], v(m[2])/1000)
		bytes[m[1]] = append(bytes[m[1]], v(m[3])/1024)
		allocs[m[1]] = append(allocs[m[1]], v(m[4]))
	}
	if len(allocs["ours"]) == 0 || len(allocs["noop"]) == 0 {
		return f, fmt.Errorf("%s: no BenchmarkAdmission results", path)
	}
	const section = "webhook vs no-op controller-runtime handler (TLS, realistic annotated pod)"
	for _, r := range []struct {
		fig, unit string
		v         map[string][]float64
	}{
		{"go test -bench: allocations per admission", "allocs", allocs},
		{"go test -bench: bytes allocated per admission", "KiB", bytes},
		{"go test -bench: time per admission (one goroutine, no TLS)", "µs", ns},
	} {
		t := benchkit.Summarize(r.v["noop"])
		f.Rows = append(f.Rows, benchkit.Row{Section: section, Figure: r.fig, Unit: r.unit,
			Ours: benchkit.Summarize(r.v["ours"]), Peer: "no-op handler", Theirs: &t})
	}
	return f, sc.Err()
}
