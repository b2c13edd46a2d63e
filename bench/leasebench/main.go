// Command leasebench holds many dynamic database leases with a short TTL
// on the test bed's real Vault and PostgreSQL, first with our agent, then
// with vault agent on leases of the same kind, and counts each agent's
// renew calls through a proxy: renew calls per lease per TTL, leases that
// lapsed (went a TTL without a renewal), CPU over the window, and RSS.
// Each lease is a PostgreSQL role of its own database role (vault agent
// reads a path once however many templates name it); every lease is
// revoked (and dropped) after each agent. No figure is a pass/fail test.
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
	bin, out := benchkit.AgentBinFlag(), benchkit.OutFlag("lease.json")
	n := flag.Int("leases", 1000, "dynamic leases held by each agent")
	ttl := flag.Duration("ttl", 30*time.Second, "the database roles' default_ttl")
	maxTTL := flag.Duration("max-ttl", 10*time.Minute, "the database roles' max_ttl")
	window := flag.Duration("window", 90*time.Second, "how long renewals are counted after every lease is held (cut into TTL-long slices)")
	vaultAgent := flag.Bool("vault-agent", true, "also run vault agent on the same kind of leases")
	benchkit.Main("leasebench", func() error { return run(*bin, *out, *n, *ttl, *maxTTL, *window, *vaultAgent) })
}

// sample is one agent's raw figures.
type sample struct {
	Leases         int            `json:"leases"`
	AllHeldSeconds float64        `json:"allHeldSeconds"`
	WindowSeconds  float64        `json:"windowSeconds"`
	Calls          map[string]int `json:"callsInWindow"`
	RenewedLeases  int            `json:"distinctLeasesRenewed"`
	// Lapsed counts the leases that went longer than their TTL without a
	// successful renewal in the window, or were not renewed at all.
	Lapsed       int     `json:"lapsedLeases"`
	RenewsPerTTL float64 `json:"renewCallsPerLeasePerTTL"`
	// Per TTL-long slice of the window: renew calls per lease, CPU (% of
	// one core), RSS and anonymous RSS at the slice's end.
	SliceRenewsPerLease []float64    `json:"sliceRenewCallsPerLease"`
	SliceCPUPercent     []float64    `json:"sliceCPUPercent"`
	SliceRSSMiB         []float64    `json:"sliceRSSMiB"`
	SliceAnonMiB        []float64    `json:"sliceAnonRSSMiB"`
	AfterRender         benchkit.Mem `json:"memAfterAllHeld"`
	AfterWindow         benchkit.Mem `json:"memAfterWindow"`
	RevokeAllSecond     float64      `json:"revokeAllSeconds"`
	// GoStats is our agent's Go runtime figures after the window.
	GoStats map[string]float64 `json:"goStatsAfterWindow,omitempty"`
}

// agent says how to run one of the two agents on the fixture.
type agent struct {
	name    string
	start   func(dir, out, addr string) (*benchkit.Proc, error)
	metrics string // our agent's /metrics, for its Go figures
}

func run(bin, out string, n int, ttl, maxTTL, window time.Duration, withVaultAgent bool) error {
	bin, tmp, err := benchkit.Workspace(bin, "leasebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx := context.Background()
	bed, fx, err := benchkit.OpenFixture(ctx, tmp, 0, ttl, maxTTL)
	defer fx.Cleanup()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "leasebench: creating %d database roles…\n", n)
	if err := fx.AddLeaseRoles(ctx, n, ttl, maxTTL); err != nil {
		return err
	}
	px, err := benchkit.StartVaultProxy(bed.Addr)
	if err != nil {
		return err
	}
	defer px.Close()

	ours := &agent{name: "ours"}
	ours.start = func(dir, out, addr string) (*benchkit.Proc, error) {
		cfg, err := fx.LeaseAgentConfig(dir, out, addr)
		if err != nil {
			return nil, err
		}
		ours.metrics = "http://" + metricsAddr(cfg) + "/metrics"
		return benchkit.StartProc(dir, nil, bin, "agent", "--mode", "sidecar", "--config", cfg)
	}
	theirs := &agent{name: "vault agent", start: func(dir, out, addr string) (*benchkit.Proc, error) {
		cfg, err := fx.LeaseVaultAgentConfig(dir, out, addr)
		if err != nil {
			return nil, err
		}
		return benchkit.StartProc(dir, nil, bed.VaultBin, "agent", "-config="+cfg, "-log-level=warn")
	}}
	agents := []*agent{ours}
	if withVaultAgent {
		agents = append(agents, theirs)
	}
	samples := map[string]*sample{}
	for _, a := range agents {
		s, err := measure(a, fx, px, filepath.Join(tmp, a.name[:4]), n, ttl, window)
		if err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
		samples[a.name] = s
	}

	f := benchkit.File{Name: "lease",
		Params: map[string]any{"leases": n, "ttl": ttl.String(), "maxTTL": maxTTL.String(), "window": window.String()},
		Raw:    samples,
		Rows:   rows(samples[ours.name], samples[theirs.name], n, ttl, window),
	}
	s := samples[ours.name]
	f.Notes = append(f.Notes, fmt.Sprintf("lease scale: all calls of our agent in the window %v; renewal every %.2f TTL on average (api.LifetimeWatcher's schedule: 2/3 of the lease plus a third of a 10–20%% grace)",
		s.Calls, 1/s.RenewsPerTTL))
	if t := samples[theirs.name]; t != nil {
		f.Notes = append(f.Notes, fmt.Sprintf("lease scale: all calls of vault agent in the window %v", t.Calls))
	}
	if g := s.GoStats; g != nil {
		f.Notes = append(f.Notes, fmt.Sprintf("lease scale: our agent's Go runtime after the window: %.0f goroutines (%.1f per lease), heap in use %.1f MiB (%.1f KiB per lease), next GC at %.1f MiB, stacks %.1f MiB",
			g["go_goroutines"], g["go_goroutines"]/float64(n), g["go_memstats_heap_inuse_bytes"]/(1<<20), g["go_memstats_heap_inuse_bytes"]/1024/float64(n),
			g["go_memstats_next_gc_bytes"]/(1<<20), g["go_memstats_stack_inuse_bytes"]/(1<<20)))
	}
	if n < 1000 {
		f.Notes = append(f.Notes, fmt.Sprintf("lease scale: %d leases, not the issue's 1,000 (leasebench --leases 1000)", n))
	}
	if err := f.Write(out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "leasebench: wrote %s\n", out)
	return nil
}

// measure runs one agent until it holds every lease, counts its renewals
// over the window, stops it and revokes its leases.
func measure(a *agent, fx *benchkit.Fixture, px *benchkit.VaultProxy, dir string, n int, ttl, window time.Duration) (*sample, error) {
	outDir := filepath.Join(dir, "out")
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "leasebench: %s fetching %d leases (ttl %s)…\n", a.name, n, ttl)
	p, err := a.start(dir, outDir, px.URL)
	if err != nil {
		return nil, err
	}
	defer p.Stop(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	held, err := p.WaitFiles(ctx, benchkit.Paths(outDir, fx.LeaseFileNames()))
	if err != nil {
		return nil, err
	}
	s := &sample{Leases: n, AllHeldSeconds: held.Seconds()}
	if s.AfterRender, err = benchkit.ReadMem(p.Pid()); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "leasebench: %s: %d leases held after %.1fs; counting renewals for %s\n", a.name, n, held.Seconds(), window)
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
	s.Lapsed = n - s.RenewedLeases + px.Lapsed(px.RenewedIDs(), ttl)
	s.WindowSeconds = time.Since(start).Seconds()
	if s.AfterWindow, err = benchkit.ReadMem(p.Pid()); err != nil {
		return nil, err
	}
	if a.metrics != "" {
		if s.GoStats, err = benchkit.GoStats(a.metrics); err != nil {
			fmt.Fprintf(os.Stderr, "leasebench: reading %s's Go figures: %v\n", a.name, err)
		}
	}
	if p.Exited() {
		return nil, fmt.Errorf("exited:\n%s", p.Tail())
	}
	s.RenewsPerTTL = float64(s.Calls[benchkit.CallRenew]) / float64(n) / (s.WindowSeconds / ttl.Seconds())
	p.Stop(10 * time.Second)
	t := time.Now()
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer rcancel()
	if err := fx.RevokeLeaseRoles(rctx); err != nil {
		fmt.Fprintf(os.Stderr, "leasebench: revoking %s's leases: %v\n", a.name, err)
	}
	s.RevokeAllSecond = time.Since(t).Seconds()
	return s, nil
}

// metricsAddr reads metricsAddr from our agent's JSON config.
func metricsAddr(cfgPath string) string {
	var c config.Config
	b, err := os.ReadFile(cfgPath)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.MetricsAddr
}

// rows turns the samples into the table's rows, with the goals;
// theirs is nil when vault agent was not run.
func rows(ours, theirs *sample, n int, ttl, window time.Duration) []benchkit.Row {
	section := fmt.Sprintf("lease scale: one agent, %d dynamic PostgreSQL credentials, ttl %s, each %s slice of a %s window is one repetition; vault agent on leases of the same roles' kind after ours", n, ttl, ttl, window)
	one := func(v float64) benchkit.Stat { return benchkit.Summarize([]float64{v}) }
	row := func(fig, unit string, o benchkit.Stat, t func(*sample) benchkit.Stat) benchkit.Row {
		r := benchkit.Row{Section: section, Figure: fig, Unit: unit, Ours: o}
		if theirs != nil {
			ts := t(theirs)
			r.Peer, r.Theirs = "vault agent", &ts
		}
		return r
	}
	renewCalls := func(s *sample) benchkit.Stat { return benchkit.Summarize([]float64{s.RenewsPerTTL}) }
	var out []benchkit.Row
	out = append(out, row(fmt.Sprintf("start → all %d leases held (files written)", n), "s", one(ours.AllHeldSeconds),
		func(s *sample) benchkit.Stat { return one(s.AllHeldSeconds) }))
	r := row("renew calls per lease per TTL (the whole window)", "calls", renewCalls(ours), renewCalls)
	r.SetGoal(benchkit.MaxOfPeer(1, "≤ vault agent's"))
	out = append(out, r)
	out = append(out, row("renew calls per lease in one TTL-long slice", "calls", benchkit.Summarize(ours.SliceRenewsPerLease),
		func(s *sample) benchkit.Stat { return benchkit.Summarize(s.SliceRenewsPerLease) }))
	r = row("leases that lapsed (a TTL without renewal) while held", "leases", one(float64(ours.Lapsed)),
		func(s *sample) benchkit.Stat { return one(float64(s.Lapsed)) })
	r.SetGoal(benchkit.Max(0, "0"))
	out = append(out, r)
	r = row("agent CPU while renewing", "% of a core", benchkit.Summarize(ours.SliceCPUPercent),
		func(s *sample) benchkit.Stat { return benchkit.Summarize(s.SliceCPUPercent) })
	r.SetGoal(benchkit.Max(2, "< 2 % of a core"))
	out = append(out, r)
	r = row("agent RSS", "MiB", benchkit.Summarize(ours.SliceRSSMiB),
		func(s *sample) benchkit.Stat { return benchkit.Summarize(s.SliceRSSMiB) })
	r.SetGoal(benchkit.Max(40, "< 40 MiB"))
	out = append(out, r)
	out = append(out, row("agent anonymous RSS", "MiB", benchkit.Summarize(ours.SliceAnonMiB),
		func(s *sample) benchkit.Stat { return benchkit.Summarize(s.SliceAnonMiB) }))
	return out
}
