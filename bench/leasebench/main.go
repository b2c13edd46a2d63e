// Command leasebench runs one agent holding many dynamic database leases
// with a short TTL on the test bed's real Vault and PostgreSQL, and counts
// its renew calls through a proxy: renew calls per lease per TTL, the
// agent's CPU over the window, and its RSS. Every lease is a PostgreSQL
// role; all are revoked (and dropped) at the end. No figure is a
// pass/fail test.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

func main() {
	bin := flag.String("bin", "bin/secret-injector", "our agent binary")
	out := flag.String("out", ".bench/lease.json", "raw figures (JSON)")
	n := flag.Int("leases", 1000, "dynamic leases held by the agent")
	ttl := flag.Duration("ttl", 30*time.Second, "the database role's default_ttl")
	maxTTL := flag.Duration("max-ttl", 10*time.Minute, "the database role's max_ttl")
	window := flag.Duration("window", 90*time.Second, "how long renewals are counted after every lease is held (cut into TTL-long slices)")
	flag.Parse()
	if err := run(*bin, *out, *n, *ttl, *maxTTL, *window); err != nil {
		fmt.Fprintln(os.Stderr, "leasebench:", err)
		os.Exit(1)
	}
}

// sample is the run's raw figures.
type sample struct {
	Leases         int            `json:"leases"`
	AllHeldSeconds float64        `json:"allHeldSeconds"`
	WindowSeconds  float64        `json:"windowSeconds"`
	Calls          map[string]int `json:"callsInWindow"`
	RenewedLeases  int            `json:"distinctLeasesRenewed"`
	RenewsPerTTL   float64        `json:"renewCallsPerLeasePerTTL"`
	// Per TTL-long slice of the window: renew calls per lease, CPU (% of
	// one core), RSS and anonymous RSS at the slice's end.
	SliceRenewsPerLease []float64    `json:"sliceRenewCallsPerLease"`
	SliceCPUPercent     []float64    `json:"sliceCPUPercent"`
	SliceRSSMiB         []float64    `json:"sliceRSSMiB"`
	SliceAnonMiB        []float64    `json:"sliceAnonRSSMiB"`
	AfterRender         benchkit.Mem `json:"memAfterAllHeld"`
	AfterWindow         benchkit.Mem `json:"memAfterWindow"`
	RevokeAllSecond     float64      `json:"revokeAllSeconds"`
	// GoStats is the agent's Go runtime figures after the window.
	GoStats map[string]float64 `json:"goStatsAfterWindow,omitempty"`
}

func run(bin, out string, n int, ttl, maxTTL, window time.Duration) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	bed, err := benchkit.OpenBed()
	if err != nil {
		return err
	}
	tmp, err := benchkit.TempDir("leasebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fx, err := bed.NewFixture(context.Background(), tmp, 0, ttl, maxTTL)
	defer fx.Cleanup()
	if err != nil {
		return err
	}
	px, err := benchkit.StartVaultProxy(bed.Addr)
	if err != nil {
		return err
	}
	defer px.Close()

	dir := filepath.Join(tmp, "agent")
	outDir := filepath.Join(dir, "out")
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return err
	}
	c := config.Config{Version: config.APIVersion,
		Backend: config.Backend{Type: config.BackendVault, Vault: &config.VaultBackend{Address: px.URL, Auth: "approle",
			AuthPath: "auth/approle", RoleIDPath: fx.RoleIDFile, SecretIDPath: fx.SecretIDFile}},
		MountPath: outDir, AdminAddr: benchkit.FreeAddr(), MetricsAddr: benchkit.FreeAddr(),
		InitTimeout: config.Duration(10 * time.Minute)}
	var files []string
	for i := range n {
		name := fmt.Sprintf("l%04d", i)
		c.Secrets = append(c.Secrets, config.Secret{Name: name, Ref: fx.CredsPath})
		files = append(files, filepath.Join(outDir, name))
	}
	raw, _ := json.Marshal(c)
	cfg := filepath.Join(dir, "agent.json")
	if err := os.WriteFile(cfg, raw, 0o600); err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "leasebench: agent fetching %d leases (ttl %s)…\n", n, ttl)
	p, err := benchkit.StartProc(dir, nil, bin, "agent", "--mode", "sidecar", "--config", cfg)
	if err != nil {
		return err
	}
	defer p.Stop(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	held, err := p.WaitFiles(ctx, files)
	if err != nil {
		return err
	}
	s := sample{Leases: n, AllHeldSeconds: held.Seconds()}
	if s.AfterRender, err = benchkit.ReadMem(p.Pid()); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "leasebench: %d leases held after %.1fs; counting renewals for %s\n", n, held.Seconds(), window)
	// The window is cut into slices one TTL long: each slice is one
	// repetition (renew calls per lease in it, CPU in it), so the figures
	// have a median and a spread from a single agent.
	px.Reset()
	parts := max(1, int(window/ttl))
	prev := 0
	cpuPrev, _ := benchkit.CPUSeconds(p.Pid())
	start := time.Now()
	for i := range parts {
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * ttl)))
		renews := px.Calls()[benchkit.CallRenew]
		cpu, _ := benchkit.CPUSeconds(p.Pid())
		s.SliceRenewsPerLease = append(s.SliceRenewsPerLease, float64(renews-prev)/float64(n))
		s.SliceCPUPercent = append(s.SliceCPUPercent, 100*(cpu-cpuPrev)/ttl.Seconds())
		prev, cpuPrev = renews, cpu
		if m, err := benchkit.ReadMem(p.Pid()); err == nil {
			s.SliceRSSMiB = append(s.SliceRSSMiB, benchkit.MiB(m.RSSKiB))
			s.SliceAnonMiB = append(s.SliceAnonMiB, benchkit.MiB(m.AnonKiB))
		}
	}
	s.Calls = px.Calls()
	s.RenewedLeases = px.RenewedLeases()
	s.WindowSeconds = time.Since(start).Seconds()
	if s.AfterWindow, err = benchkit.ReadMem(p.Pid()); err != nil {
		return err
	}
	if s.GoStats, err = benchkit.GoStats("http://" + c.MetricsAddr + "/metrics"); err != nil {
		fmt.Fprintf(os.Stderr, "leasebench: reading the agent's Go figures: %v\n", err)
	}
	if p.Exited() {
		return fmt.Errorf("agent exited:\n%s", p.Tail())
	}
	s.RenewsPerTTL = float64(s.Calls[benchkit.CallRenew]) / float64(n) / (s.WindowSeconds / ttl.Seconds())
	p.Stop(10 * time.Second)
	t := time.Now()
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer rcancel()
	if err := fx.RevokeLeases(rctx); err != nil {
		fmt.Fprintf(os.Stderr, "leasebench: revoking the leases: %v\n", err)
	}
	s.RevokeAllSecond = time.Since(t).Seconds()

	section := fmt.Sprintf("lease scale: one agent, %d dynamic PostgreSQL credentials, ttl %s, each %s slice of a %s window is one repetition", n, ttl, ttl, window)
	one := func(v float64) benchkit.Stat { return benchkit.Summarize([]float64{v}) }
	renew := benchkit.Row{Section: section, Figure: "renew calls per lease per TTL", Unit: "calls",
		Ours: benchkit.Summarize(s.SliceRenewsPerLease), Goal: "≤ 1.1"}
	renew.Met = benchkit.Bool(renew.Ours.Median <= 1.1)
	f := benchkit.File{Name: "lease",
		Params: map[string]any{"leases": n, "ttl": ttl.String(), "maxTTL": maxTTL.String(), "window": window.String()},
		Raw:    s,
		Rows: []benchkit.Row{
			{Section: section, Figure: fmt.Sprintf("start → all %d leases held (files written)", n), Unit: "s", Ours: one(s.AllHeldSeconds)},
			renew,
			{Section: section, Figure: "distinct leases renewed in the window", Unit: "leases", Ours: one(float64(s.RenewedLeases))},
			{Section: section, Figure: "agent CPU while renewing", Unit: "% of a core", Ours: benchkit.Summarize(s.SliceCPUPercent)},
			{Section: section, Figure: "agent RSS", Unit: "MiB", Ours: benchkit.Summarize(s.SliceRSSMiB)},
			{Section: section, Figure: "agent anonymous RSS", Unit: "MiB", Ours: benchkit.Summarize(s.SliceAnonMiB)},
		},
		Notes: []string{fmt.Sprintf("lease scale: all calls in the window %v; renewal every %.2f TTL on average (api.LifetimeWatcher renews at 2/3 of the lease plus a third of a 10–20%% grace)",
			s.Calls, 1/s.RenewsPerTTL)},
	}
	if g := s.GoStats; g != nil {
		f.Notes = append(f.Notes, fmt.Sprintf("lease scale: the agent's Go runtime after the window: %.0f goroutines (%.1f per lease), heap in use %.1f MiB (%.1f KiB per lease), next GC at %.1f MiB, stacks %.1f MiB",
			g["go_goroutines"], g["go_goroutines"]/float64(n), g["go_memstats_heap_inuse_bytes"]/(1<<20), g["go_memstats_heap_inuse_bytes"]/1024/float64(n),
			g["go_memstats_next_gc_bytes"]/(1<<20), g["go_memstats_stack_inuse_bytes"]/(1<<20)))
	}
	if n < 1000 {
		f.Notes = append(f.Notes, fmt.Sprintf("lease scale: %d leases, not the issue's 1,000 (leasebench --leases 1000)", n))
	}
	if err := f.Write(out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "leasebench: wrote %s (revoking all leases took %.1fs)\n", out, s.RevokeAllSecond)
	return nil
}
