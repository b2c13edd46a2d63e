// Command costbench measures what each backend costs in API calls when
// nothing changes: our agent runs as a sidecar against each backend with a
// short refresh interval, every call it makes after the first render is
// counted (the in-process GCP and AWS servers' own counters; a counting
// proxy in front of the test bed's Vault), and the count is scaled to calls
// per secret per hour at the default interval (5m). vault agent is counted
// the same way with its static-secret render interval set alike. The env
// backend reads local files: no network calls. No figure is a pass/fail
// test.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
	"github.com/tradepulse/secret-injector/agent/backend/gcp/gcptest"
	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

func main() {
	bin, out := benchkit.AgentBinFlag(), benchkit.OutFlag("cost.json")
	secrets := flag.Int("secrets", 20, "secrets per agent")
	interval := flag.Duration("interval", time.Second, "refresh interval during the measurement")
	window := flag.Duration("window", 20*time.Second, "how long calls are counted after the first render")
	parts := flag.Int("slices", 4, "slices of the window, each one repetition")
	vault := flag.Bool("vault", true, "measure the Vault backend and vault agent (needs the test bed)")
	benchkit.Main("costbench", func() error { return run(*bin, *out, *secrets, *interval, *window, max(1, *parts), *vault) })
}

// counted is one agent run against a backend whose calls are counted.
type counted struct {
	name  string
	peer  bool // vault agent rather than ours
	start func(dir string) (*benchkit.Proc, []string, error)
	calls func() map[string]int
	reset func()
}

// measurement is what one counted run gives.
type measurement struct {
	Calls          map[string]int `json:"calls"`
	Total          int            `json:"total"`
	WindowSeconds  float64        `json:"windowSeconds"`
	PerSecondCheck float64        `json:"callsPerSecretPerCheck"`
	PerHour        float64        `json:"callsPerSecretPerHourAtDefault"`
	// Slices are PerHour for each slice of the window.
	Slices []float64 `json:"sliceCallsPerSecretPerHourAtDefault"`
}

func run(bin, out string, n int, interval, window time.Duration, parts int, withVault bool) error {
	bin, tmp, err := benchkit.Workspace(bin, "costbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("s%02d", i)
	}

	var runs []counted
	g, err := gcptest.NewServer()
	if err != nil {
		return err
	}
	defer g.Close()
	a := awstest.NewServer()
	defer a.Close()
	for i, name := range names {
		g.Put("projects/tradepulse-bench/secrets/tradepulse--bench--"+name, fmt.Appendf(nil, "gcp-value-%02d", i))
		a.Put("tradepulse/bench/"+name, fmt.Appendf(nil, "aws-value-%02d", i), false)
	}
	runs = append(runs,
		counted{name: "gcp", start: oursStart(bin, names, interval, config.Backend{Type: config.BackendGCP,
			GCP: &config.GCPBackend{Project: "tradepulse-bench", Endpoint: g.Addr(), Insecure: true}}, nil),
			calls: g.Calls, reset: g.ResetCalls},
		counted{name: "aws", start: oursStart(bin, names, interval, config.Backend{Type: config.BackendAWS,
			AWS: &config.AWSBackend{Region: "eu-west-1", Endpoint: a.URL()}},
			[]string{"AWS_ACCESS_KEY_ID=AKIDBENCH", "AWS_SECRET_ACCESS_KEY=bench", "AWS_EC2_METADATA_DISABLED=true"}),
			calls: a.Calls, reset: a.ResetCalls},
	)
	if withVault {
		bed, fx, err := benchkit.OpenFixture(context.Background(), tmp, n, 30*time.Second, 10*time.Minute)
		defer fx.Cleanup()
		if err != nil {
			return err
		}
		kvOnly := *fx
		kvOnly.CredsPath = "" // leases cost per TTL, not per interval: see leasebench
		for _, peer := range []bool{false, true} {
			px, err := benchkit.StartVaultProxy(bed.Addr)
			if err != nil {
				return err
			}
			defer px.Close()
			c := counted{name: "vault (KV v2)", peer: peer, calls: px.Calls, reset: px.Reset}
			if peer {
				c.start = theirStart(bed.VaultBin, px.URL, &kvOnly, interval)
			} else {
				c.start = oursVaultStart(bin, px.URL, &kvOnly, interval)
			}
			runs = append(runs, c)
		}
	}

	// All agents run at once: their calls go to different counters.
	results := make([]measurement, len(runs))
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, c := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = measure(c, filepath.Join(tmp, fmt.Sprint(i)), n, interval, window, parts)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("%s: %w", runs[i].name, err)
		}
	}

	f := benchkit.File{Name: "cost",
		Params: map[string]any{"secrets": n, "interval": interval.String(), "window": window.String(), "defaultInterval": time.Duration(config.DefaultRefreshInterval).String()},
		Notes: []string{fmt.Sprintf("backend cost: counted over %s at a %s interval after the first render, scaled to the default %s interval; nothing changed; database leases cost renewals per TTL instead (lease scale)",
			window, interval, time.Duration(config.DefaultRefreshInterval))},
	}
	raw := map[string]measurement{}
	var vaultTheirs *benchkit.Stat
	for i, c := range runs {
		key := c.name
		if c.peer {
			key += " / vault agent"
			s := benchkit.Summarize(results[i].Slices)
			vaultTheirs = &s
		}
		raw[key] = results[i]
	}
	f.Raw = raw
	section := fmt.Sprintf("backend cost when nothing changes: calls per secret per hour at the default %s interval (%d secrets, counted at %s, each %s slice one repetition)",
		time.Duration(config.DefaultRefreshInterval), n, interval, window/time.Duration(parts))
	for i, c := range runs {
		if c.peer {
			continue
		}
		r := benchkit.Row{Section: section, Figure: c.name + ": " + kinds(results[i].Calls), Unit: "calls/secret/h", Ours: benchkit.Summarize(results[i].Slices)}
		if c.name == "vault (KV v2)" && vaultTheirs != nil {
			r.Peer, r.Theirs = "vault agent ("+kinds(raw["vault (KV v2) / vault agent"].Calls)+")", vaultTheirs
		}
		r.Note = breakdown(results[i].Calls)
		f.Rows = append(f.Rows, r)
	}
	f.Rows = append(f.Rows, benchkit.Row{Section: section, Figure: "env (.env files)", Unit: "calls/secret/h",
		Ours: benchkit.Summarize([]float64{0}), Note: "not measured: no network client, local file reads (fsnotify + poll)"})
	if err := f.Write(out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "costbench: wrote %s\n", out)
	return nil
}

// kinds names the kinds of call counted, for the table.
func kinds(calls map[string]int) string {
	var k []string
	for name := range calls {
		k = append(k, name)
	}
	slices.Sort(k)
	if len(k) == 0 {
		return "no calls"
	}
	return strings.Join(k, ", ")
}

func breakdown(calls map[string]int) string {
	b, _ := json.Marshal(calls)
	return string(b)
}

// measure starts the agent, waits for its first render, then counts calls
// over window.
func measure(c counted, dir string, n int, interval, window time.Duration, parts int) (measurement, error) {
	var m measurement
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return m, err
	}
	p, files, err := c.start(dir)
	if err != nil {
		return m, err
	}
	defer p.Stop(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := p.WaitFiles(ctx, files); err != nil {
		return m, err
	}
	// Let the first checks after the render settle, then count. The window
	// is cut into slices, each one repetition, for a median and a spread.
	time.Sleep(interval)
	c.reset()
	perHour := func(calls int, d time.Duration) float64 {
		checks := d.Seconds() / interval.Seconds()
		return float64(calls) / float64(n) / checks * (time.Hour.Seconds() / time.Duration(config.DefaultRefreshInterval).Seconds())
	}
	start := time.Now()
	prev := 0
	for i := range parts {
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * window / time.Duration(parts))))
		total := benchkit.Total(c.calls())
		m.Slices = append(m.Slices, perHour(total-prev, window/time.Duration(parts)))
		prev = total
	}
	m.Calls = c.calls()
	m.WindowSeconds = time.Since(start).Seconds()
	if p.Exited() {
		return m, fmt.Errorf("agent exited:\n%s", p.Tail())
	}
	m.Total = benchkit.Total(m.Calls)
	m.PerSecondCheck = float64(m.Total) / float64(n) / (m.WindowSeconds / interval.Seconds())
	m.PerHour = perHour(m.Total, time.Since(start))
	return m, nil
}
