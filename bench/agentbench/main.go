// Command agentbench measures what the agent costs per pod on the env
// backend: time from process start to all files written, and resident
// memory after the first render and at steady state. It runs the real
// binary as a separate process, repeatedly, and reports the median and
// spread. No figure here is a pass/fail test.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

func main() {
	bin, out := benchkit.AgentBinFlag(), benchkit.OutFlag("agent.json")
	runs := flag.Int("runs", 7, "repetitions")
	secrets := flag.Int("secrets", 20, "secrets per agent")
	steady := flag.Duration("steady", 10*time.Second, "how long the sidecar runs before the steady-state RSS is read")
	benchkit.Main("agentbench", func() error { return run(*bin, *out, *runs, *secrets, *steady) })
}

// sample is one run's figures.
type sample struct {
	InitSeconds       float64 `json:"initSeconds"`
	InitRSSKiB        int     `json:"initPeakRSSKiB"`
	SidecarSeconds    float64 `json:"sidecarFirstRenderSeconds"`
	SidecarRSSKiB     int     `json:"sidecarRSSAfterRenderKiB"`
	SidecarSteadyKiB  int     `json:"sidecarRSSSteadyKiB"`
	SidecarAnonKiB    int     `json:"sidecarAnonRSSSteadyKiB"`
	SteadyAfterSecond float64 `json:"steadyAfterSeconds"`
}

func run(bin, out string, runs, n int, steady time.Duration) error {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	var samples []sample
	for i := range runs {
		fmt.Fprintf(os.Stderr, "run %d/%d…\n", i+1, runs)
		s, err := once(abs, n, steady)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		samples = append(samples, s)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := writeFile(out, n, steady, samples); err != nil {
		return err
	}
	fmt.Printf("agent on the env backend, %d secrets, %d runs (median [min–max])\n\n", n, runs)
	fmt.Printf("| figure | value |\n|---|---|\n")
	row := func(name string, f func(sample) float64, unit string, scale float64) {
		var v []float64
		for _, s := range samples {
			v = append(v, f(s)*scale)
		}
		slices.Sort(v)
		fmt.Printf("| %s | %.1f %s [%.1f–%.1f] |\n", name, v[len(v)/2], unit, v[0], v[len(v)-1])
	}
	row("init: start → all files written, exit", func(s sample) float64 { return s.InitSeconds }, "ms", 1000)
	row("init: peak RSS", func(s sample) float64 { return float64(s.InitRSSKiB) }, "MiB", 1.0/1024)
	row("sidecar: start → all files written", func(s sample) float64 { return s.SidecarSeconds }, "ms", 1000)
	row("sidecar: RSS after first render", func(s sample) float64 { return float64(s.SidecarRSSKiB) }, "MiB", 1.0/1024)
	row(fmt.Sprintf("sidecar: RSS after %s", steady), func(s sample) float64 { return float64(s.SidecarSteadyKiB) }, "MiB", 1.0/1024)
	row("sidecar: anonymous RSS (steady)", func(s sample) float64 { return float64(s.SidecarAnonKiB) }, "MiB", 1.0/1024)
	fmt.Printf("\nraw figures: %s\n", out)
	return nil
}

func once(bin string, n int, steady time.Duration) (sample, error) {
	var s sample
	dir, err := benchkit.TempDir("agentbench-")
	if err != nil {
		return s, err
	}
	defer os.RemoveAll(dir)
	cfgPath, last, err := writeFixture(dir, n)
	if err != nil {
		return s, err
	}

	// init: the process exits once every file is written.
	start := time.Now()
	cmd := exec.Command(bin, "agent", "--mode", "init", "--config", cfgPath)
	cmd.Dir = dir
	if outb, err := cmd.CombinedOutput(); err != nil {
		return s, fmt.Errorf("init: %v\n%s", err, outb)
	}
	s.InitSeconds = time.Since(start).Seconds()
	s.InitRSSKiB = int(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	if err := os.RemoveAll(filepath.Join(dir, "out")); err != nil {
		return s, err
	}

	// sidecar: poll for the last file; the process keeps running.
	ctx, cancel := context.WithTimeout(context.Background(), steady+30*time.Second)
	defer cancel()
	start = time.Now()
	cmd = exec.CommandContext(ctx, bin, "agent", "--mode", "sidecar", "--config", cfgPath)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return s, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for {
		if _, err := os.Stat(filepath.Join(dir, "out", last)); err == nil {
			break
		}
		if ctx.Err() != nil {
			return s, errors.New("sidecar never wrote its files")
		}
		time.Sleep(500 * time.Microsecond)
	}
	s.SidecarSeconds = time.Since(start).Seconds()
	m, err := benchkit.ReadMem(cmd.Process.Pid)
	if err != nil {
		return s, err
	}
	s.SidecarRSSKiB = m.RSSKiB
	time.Sleep(steady)
	s.SteadyAfterSecond = time.Since(start).Seconds()
	m, err = benchkit.ReadMem(cmd.Process.Pid)
	s.SidecarSteadyKiB, s.SidecarAnonKiB = m.RSSKiB, m.AnonKiB
	return s, err
}

// writeFixture writes a .env with n secrets and a config that renders
// them, on free ports. It returns the config path and the last file name.
func writeFixture(dir string, n int) (string, string, error) {
	var env, secrets strings.Builder
	for i := range n {
		key := fmt.Sprintf("TRADEPULSE_BENCH_SECRET_%02d", i)
		fmt.Fprintf(&env, "%s=value-%02d-%s\n", key, i, strings.Repeat("x", 64))
		fmt.Fprintf(&secrets, "  - {name: secret-%02d, ref: tradepulse/bench/secret-%02d}\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(env.String()), 0o600); err != nil {
		return "", "", err
	}
	metricsAddr, adminAddr := benchkit.FreeAddr(), benchkit.FreeAddr()
	cfg := fmt.Sprintf(`version: secrets.tradepulse.io/v1
backend: {type: env, env: {files: [.env]}}
mountPath: out
refreshInterval: 30s
adminAddr: %s
metricsAddr: %s
secrets:
%s`, adminAddr, metricsAddr, secrets.String())
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", "", err
	}
	return path, fmt.Sprintf("secret-%02d", n-1), nil
}
