// Command sdkcost measures what each backend SDK costs the agent at start:
// it builds the agent binary with and without each cloud backend (the
// agent_nogcp, agent_noaws and agent_novault build tags), runs each build
// as an init container on the env backend (20 secrets from a .env file, no
// network), and reports binary size, peak RSS, time to exit and package
// initialisation (GODEBUG=inittrace=1: packages, clock and bytes). A
// backend's cost is the full build minus the build without it. Package
// initialisation runs for every linked package whether or not the pod
// uses its backend: it cannot be delayed, only left out of the binary.
// No figure is a pass/fail test.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

func main() {
	pkg := flag.String("pkg", "./cmd/secret-injector-agent", "main package of the agent")
	out := benchkit.OutFlag("sdkcost.json")
	runs := flag.Int("runs", 7, "runs of each build")
	benchkit.Main("sdkcost", func() error { return run(*pkg, *out, *runs) })
}

// variant is one build of the agent.
type variant struct {
	name, tags string
}

var variants = []variant{
	{"all backends (the released binary)", ""},
	{"without GCP", "agent_nogcp"},
	{"without AWS", "agent_noaws"},
	{"without Vault", "agent_novault"},
	{"env only", "agent_nogcp,agent_noaws,agent_novault"},
}

// sample is one variant's figures, medians over the runs.
type sample struct {
	SizeMiB    float64 `json:"sizeMiB"`
	PeakRSSMiB float64 `json:"peakRSSMiB"`
	ExitMs     float64 `json:"exitMs"`
	CPUMs      float64 `json:"cpuMs"`
	InitPkgs   float64 `json:"initPackages"`
	InitMs     float64 `json:"initClockMs"`
	InitKiB    float64 `json:"initAllocKiB"`
}

func run(pkg, outPath string, runs int) error {
	tmp, err := benchkit.TempDir("sdkcost-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "out")
	cfg, err := envFixture(tmp, out, 20)
	if err != nil {
		return err
	}
	samples := map[string]sample{}
	for _, v := range variants {
		bin := filepath.Join(tmp, "agent-"+strings.ReplaceAll(v.tags, ",", "-"))
		fmt.Fprintf(os.Stderr, "sdkcost: building %s (tags %q)\n", v.name, v.tags)
		build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-tags", v.tags, "-o", bin, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", v.tags, err, b)
		}
		fi, err := os.Stat(bin)
		if err != nil {
			return err
		}
		var rss, exit, cpu, pkgs, initMs, initKiB []float64
		for i := range 2 * runs {
			_ = os.RemoveAll(out)
			cmd := exec.Command(bin, "agent", "--mode", "init", "--config", cfg, "--termination-log", filepath.Join(tmp, "termination-log"))
			cmd.Env = os.Environ()
			traced := i%2 == 1 // inittrace slows the run down: half the runs are traced
			if traced {
				cmd.Env = append(cmd.Env, "GODEBUG=inittrace=1")
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cmd.Dir = tmp
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %v\n%s", v.name, err, tail(stderr.String()))
			}
			took := time.Since(start)
			if traced {
				n, ms, kib := inittrace(stderr.String())
				pkgs, initMs, initKiB = append(pkgs, n), append(initMs, ms), append(initKiB, kib)
				continue
			}
			exit = append(exit, float64(took)/float64(time.Millisecond))
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			rss = append(rss, benchkit.MiB(int(ru.Maxrss)))
			cpu = append(cpu, float64(time.Duration(ru.Utime.Nano()+ru.Stime.Nano()))/float64(time.Millisecond))
		}
		samples[v.name] = sample{
			SizeMiB:    float64(fi.Size()) / (1 << 20),
			PeakRSSMiB: benchkit.Summarize(rss).Median,
			ExitMs:     benchkit.Summarize(exit).Median,
			CPUMs:      benchkit.Summarize(cpu).Median,
			InitPkgs:   benchkit.Summarize(pkgs).Median,
			InitMs:     benchkit.Summarize(initMs).Median,
			InitKiB:    benchkit.Summarize(initKiB).Median,
		}
	}
	f := benchkit.File{Name: "sdkcost", Params: map[string]any{"runs": runs, "secrets": 20, "backend": "env"}, Raw: samples}
	const section = "what each backend SDK costs the agent at start: the full build minus the build without it (init on the env backend, 20 secrets; package initialisation from GODEBUG=inittrace=1)"
	all := samples[variants[0].name]
	one := func(v float64) benchkit.Stat { return benchkit.Summarize([]float64{v}) }
	add := func(fig, unit string, v float64) {
		f.Rows = append(f.Rows, benchkit.Row{Section: section, Figure: fig, Unit: unit, Ours: one(v)})
	}
	add("agent binary (all backends)", "MiB", all.SizeMiB)
	add("agent init: peak RSS (all backends)", "MiB", all.PeakRSSMiB)
	add("agent init: start → exit (all backends)", "ms", all.ExitMs)
	add("agent init: CPU, user+system (all backends)", "ms", all.CPUMs)
	add("agent package initialisation (all backends)", "ms", all.InitMs)
	for _, b := range []struct{ name, variant string }{{"GCP (Secret Manager client, gRPC, protobuf, OpenTelemetry)", "without GCP"}, {"AWS (SDK v2, Secrets Manager, STS, SSO)", "without AWS"}, {"Vault (API client)", "without Vault"}} {
		w := samples[b.variant]
		add(b.name+": binary", "MiB", all.SizeMiB-w.SizeMiB)
		add(b.name+": peak RSS", "MiB", all.PeakRSSMiB-w.PeakRSSMiB)
		add(b.name+": CPU to exit", "ms", all.CPUMs-w.CPUMs)
		add(b.name+": packages initialised", "packages", all.InitPkgs-w.InitPkgs)
		add(b.name+": package initialisation", "ms", all.InitMs-w.InitMs)
		add(b.name+": allocated by package initialisation", "KiB", all.InitKiB-w.InitKiB)
	}
	env := samples["env only"]
	add("env only (no SDK): peak RSS", "MiB", env.PeakRSSMiB)
	add("env only (no SDK): start → exit", "ms", env.ExitMs)
	add("env only (no SDK): CPU to exit", "ms", env.CPUMs)
	f.Notes = []string{fmt.Sprintf("sdkcost: medians of %d runs of each build; package initialisation is the sum of GODEBUG=inittrace=1 clock times (traced runs), RSS, CPU and exit times are from untraced runs; times are wall clock and suffer from a loaded machine, CPU much less", runs)}
	if err := f.Write(outPath); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "sdkcost: wrote %s\n", outPath)
	return nil
}

// envFixture writes a .env file with n secrets and an agent config
// writing them to out.
func envFixture(dir, out string, n int) (string, error) {
	var env, secrets strings.Builder
	for i := range n {
		fmt.Fprintf(&env, "BENCH_S%02d=value-%02d\n", i, i)
		fmt.Fprintf(&secrets, "  - {name: s%02d, ref: bench/s%02d}\n", i, i)
	}
	envFile := filepath.Join(dir, ".env")
	if err := os.WriteFile(envFile, []byte(env.String()), 0o600); err != nil {
		return "", err
	}
	cfg := fmt.Sprintf("version: secrets.tradepulse.io/v1\nbackend: {type: env, env: {files: [%q]}}\nmountPath: %s\nsecrets:\n%s", envFile, out, secrets.String())
	path := filepath.Join(dir, "agent.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// inittrace sums GODEBUG=inittrace=1 lines: packages, clock ms, bytes
// (KiB).
func inittrace(stderr string) (pkgs, ms, kib float64) {
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// init <pkg> @<t> ms, <clock> ms clock, <bytes> bytes, <n> allocs
		if len(f) < 8 || f[0] != "init" || f[5] != "ms" || f[6] != "clock," {
			continue
		}
		c, _ := strconv.ParseFloat(f[4], 64)
		b, _ := strconv.ParseFloat(f[7], 64)
		pkgs++
		ms += c
		kib += b / 1024
	}
	return pkgs, ms, kib
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
