// Command vaultbench sets our agent beside `vault agent` from the same
// Vault binary, on the test bed's real Vault: 19 KV v2 secrets and one
// database lease, rendered by both with equivalent templates and AppRole
// auth. It reports time from process start to all files written (init and
// sidecar), RSS after the first render and after a steady period, with the
// anonymous and file-backed parts, and the ratios ours/theirs. Repeated
// runs, median and spread; no figure is a pass/fail test.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

func main() {
	bin, out := benchkit.AgentBinFlag(), benchkit.OutFlag("vault.json")
	runs := flag.Int("runs", 5, "init runs of each agent")
	sidecars := flag.Int("sidecars", 3, "sidecars of each agent, all held through one steady period")
	steady := flag.Duration("steady", 60*time.Second, "steady period before the steady-state RSS is read (the issue asks for 5m)")
	benchkit.Main("vaultbench", func() error { return run(*bin, *out, *runs, *sidecars, *steady) })
}

// agent says how to start one of the two agents.
type agent struct {
	name   string
	config func(dir, out string) (string, error)
	args   func(cfg string, init bool) (string, []string)
}

type initSample struct {
	FilesMs    float64 `json:"filesWrittenMs"`
	ExitMs     float64 `json:"exitMs"`
	PeakRSSKiB int     `json:"peakRSSKiB"`
}

type sidecarSample struct {
	FilesMs     float64      `json:"filesWrittenMs"`
	AfterRender benchkit.Mem `json:"afterRender"`
	Steady      benchkit.Mem `json:"steady"`
	SteadyCPUs  float64      `json:"steadyCPUSeconds"`
}

func run(bin, outPath string, runs, sidecars int, steady time.Duration) error {
	bin, tmp, err := benchkit.Workspace(bin, "vaultbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx := context.Background()
	bed, fx, err := benchkit.OpenFixture(ctx, tmp, 19, 30*time.Second, 10*time.Minute)
	defer fx.Cleanup()
	if err != nil {
		return err
	}
	ours := agent{
		name:   "ours",
		config: func(dir, out string) (string, error) { return fx.AgentConfig(dir, out, bed.Addr, 5*time.Minute) },
		args: func(cfg string, init bool) (string, []string) {
			mode := "sidecar"
			if init {
				mode = "init"
			}
			return bin, []string{"agent", "--mode", mode, "--config", cfg}
		},
	}
	theirs := agent{
		name:   "vault agent",
		config: func(dir, out string) (string, error) { return fx.VaultAgentConfig(dir, out, bed.Addr, 0) },
		args: func(cfg string, init bool) (string, []string) {
			a := []string{"agent", "-config=" + cfg, "-log-level=warn"}
			if init {
				a = append(a, "-exit-after-auth")
			}
			return bed.VaultBin, a
		},
	}
	files := fx.FileNames()

	inits := map[string][]initSample{}
	for i := range runs {
		order := []agent{ours, theirs}
		if i%2 == 1 {
			order = []agent{theirs, ours}
		}
		for _, a := range order {
			fmt.Fprintf(os.Stderr, "vaultbench: init run %d/%d: %s\n", i+1, runs, a.name)
			s, err := runInit(a, filepath.Join(tmp, fmt.Sprintf("init-%d-%s", i, a.name[:4])), files)
			if err != nil {
				return fmt.Errorf("%s init: %w", a.name, err)
			}
			inits[a.name] = append(inits[a.name], s)
		}
	}

	scs := map[string][]sidecarSample{}
	var procs []*benchkit.Proc
	var names []string
	defer func() {
		for _, p := range procs {
			p.Stop(5 * time.Second)
		}
	}()
	for i := range sidecars {
		for _, a := range []agent{ours, theirs} {
			fmt.Fprintf(os.Stderr, "vaultbench: sidecar %d/%d: %s\n", i+1, sidecars, a.name)
			p, s, err := startSidecar(a, filepath.Join(tmp, fmt.Sprintf("sidecar-%d-%s", i, a.name[:4])), files)
			if p != nil {
				procs = append(procs, p)
			}
			if err != nil {
				return fmt.Errorf("%s sidecar: %w", a.name, err)
			}
			scs[a.name] = append(scs[a.name], s)
			names = append(names, a.name)
		}
	}
	cpu0 := make([]float64, len(procs))
	for i, p := range procs {
		cpu0[i], _ = benchkit.CPUSeconds(p.Pid())
	}
	fmt.Fprintf(os.Stderr, "vaultbench: %d sidecars running; steady period %s\n", len(procs), steady)
	time.Sleep(steady)
	idx := map[string]int{}
	for i, p := range procs {
		if p.Exited() {
			return fmt.Errorf("%s sidecar exited during the steady period:\n%s", names[i], p.Tail())
		}
		m, err := benchkit.ReadMem(p.Pid())
		if err != nil {
			return err
		}
		c, _ := benchkit.CPUSeconds(p.Pid())
		k := idx[names[i]]
		scs[names[i]][k].Steady = m
		scs[names[i]][k].SteadyCPUs = c - cpu0[i]
		idx[names[i]]++
	}

	f := benchkit.File{
		Name:   "vault",
		Params: map[string]any{"secrets": len(files), "kv": len(fx.KVRefs), "leases": 1, "initRuns": runs, "sidecars": sidecars, "steady": steady.String()},
		Raw:    map[string]any{"init": inits, "sidecar": scs},
	}
	if steady < 5*time.Minute {
		f.Notes = []string{fmt.Sprintf("agent vs vault agent: steady period %s (the issue asks for 5 minutes: BENCH_STEADY=5m make bench, or vaultbench --steady 5m)", steady)}
	}
	f.Rows = rows(inits[ours.name], inits[theirs.name], scs[ours.name], scs[theirs.name], steady)
	if err := f.Write(outPath); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "vaultbench: wrote %s\n", outPath)
	return nil
}

func runInit(a agent, dir string, files []string) (initSample, error) {
	var s initSample
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o700); err != nil {
		return s, err
	}
	cfg, err := a.config(dir, out)
	if err != nil {
		return s, err
	}
	name, args := a.args(cfg, true)
	p, err := benchkit.StartProc(dir, nil, name, args...)
	if err != nil {
		return s, err
	}
	defer p.Stop(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := p.WaitFiles(ctx, benchkit.Paths(out, files))
	if err != nil {
		return s, err
	}
	s.FilesMs = ms(d)
	if err := p.Wait(60 * time.Second); err != nil {
		return s, fmt.Errorf("exit: %v\n%s", err, p.Tail())
	}
	s.ExitMs = ms(time.Since(p.Start))
	s.PeakRSSKiB = p.MaxRSSKiB()
	return s, nil
}

func startSidecar(a agent, dir string, files []string) (*benchkit.Proc, sidecarSample, error) {
	var s sidecarSample
	out := filepath.Join(dir, "out")
	if err := os.MkdirAll(out, 0o700); err != nil {
		return nil, s, err
	}
	cfg, err := a.config(dir, out)
	if err != nil {
		return nil, s, err
	}
	name, args := a.args(cfg, false)
	p, err := benchkit.StartProc(dir, nil, name, args...)
	if err != nil {
		return nil, s, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := p.WaitFiles(ctx, benchkit.Paths(out, files))
	if err != nil {
		return p, s, err
	}
	s.FilesMs = ms(d)
	s.AfterRender, err = benchkit.ReadMem(p.Pid())
	return p, s, err
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
