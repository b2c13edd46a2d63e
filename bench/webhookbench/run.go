package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

const section = "webhook vs no-op controller-runtime handler (TLS, realistic annotated pod)"

// handlerNames are the two servers: ours first, the peer second.
var handlerNames = []string{"ours", "noop"}

func run(out string, runs int, d time.Duration, rates []int, workers int, h2 bool) error {
	tmp, err := os.MkdirTemp("", "webhookbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	pool, err := writeCert(tmp)
	if err != nil {
		return err
	}
	body, err := reviewBody(benchPod())
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	clients := map[string]*client{}
	for _, h := range handlerNames {
		addr := benchkit.FreeAddr()
		_, port, _ := net.SplitHostPort(addr)
		args := []string{"-serve", h, "-certdir", tmp, "-port", port}
		if h2 {
			args = append(args, "-h2")
		}
		p, err := benchkit.StartProc(tmp, nil, self, args...)
		if err != nil {
			return err
		}
		defer p.Stop(5 * time.Second)
		c := newClient(addr, pool, h2, body)
		if err := waitReady(c, h == "ours"); err != nil {
			return fmt.Errorf("%s server: %w\n%s", h, err, p.Tail())
		}
		clients[h] = c
	}

	// loads are the measurements: each fixed rate, then the maximum.
	type load struct {
		name string
		run  func(*client) result
	}
	var loads []load
	for _, r := range rates {
		loads = append(loads, load{fmt.Sprintf("%d/s", r), func(c *client) result { return c.openLoop(r, d) }})
	}
	loads = append(loads, load{fmt.Sprintf("max (%d workers)", workers), func(c *client) result { return c.closedLoop(workers, d) }})

	raw := map[string]map[string][]result{}
	for _, h := range handlerNames {
		raw[h] = map[string][]result{}
	}
	for i := range runs {
		for _, l := range loads {
			order := handlerNames
			if i%2 == 1 {
				order = []string{handlerNames[1], handlerNames[0]}
			}
			for _, h := range order {
				c := clients[h]
				c.closedLoop(8, 300*time.Millisecond) // warm connections and caches
				res := l.run(c)
				fmt.Fprintf(os.Stderr, "webhookbench: run %d/%d %-16s %-4s %7.0f req/s p50 %.2f ms p99 %.2f ms errors %d\n",
					i+1, runs, l.name, h, res.Throughput, res.P50Ms, res.P99Ms, res.Errors)
				raw[h][l.name] = append(raw[h][l.name], res)
			}
		}
	}

	proto := "HTTP/1.1"
	if h2 {
		proto = "HTTP/2"
	}
	f := benchkit.File{
		Name:   "webhook",
		Params: map[string]any{"runs": runs, "duration": d.String(), "rates": rates, "workers": workers, "protocol": proto, "bodyBytes": len(body)},
		Raw:    raw,
		Notes: []string{fmt.Sprintf("webhook: %s over TLS (as webhook.Run serves), %s per load, load generator and servers share the machine's %s cores",
			proto, d, strconv.Itoa(numCPU()))},
	}
	stat := func(h, l string, get func(result) float64) benchkit.Stat {
		var v []float64
		for _, r := range raw[h][l] {
			v = append(v, get(r))
		}
		return benchkit.Summarize(v)
	}
	for _, l := range loads {
		for _, m := range []struct {
			fig, unit string
			get       func(result) float64
		}{
			{"throughput", "req/s", func(r result) float64 { return r.Throughput }},
			{"p50 latency", "ms", func(r result) float64 { return r.P50Ms }},
			{"p99 latency", "ms", func(r result) float64 { return r.P99Ms }},
		} {
			t := stat("noop", l.name, m.get)
			row := benchkit.Row{Section: section, Figure: l.name + ": " + m.fig, Unit: m.unit,
				Ours: stat("ours", l.name, m.get), Peer: "no-op handler", Theirs: &t}
			switch {
			case l.name == loads[len(loads)-1].name && m.fig == "throughput":
				row.SetGoal(benchkit.MinOfPeer(0.5, "≥ 0.5× the no-op handler's"))
			case l.name == "1000/s" && m.fig == "p99 latency":
				row.SetGoal(benchkit.Max(5, "< 5 ms"))
			}
			f.Rows = append(f.Rows, row)
		}
	}
	if err := f.Write(out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "webhookbench: wrote %s\n", out)
	return nil
}

// waitReady polls until the server answers a review.
func waitReady(c *client, wantPatch bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := c.post(ctx, wantPatch)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func numCPU() int { return runtime.NumCPU() }
