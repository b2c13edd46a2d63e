// Command webhookbench measures admission throughput and latency over TLS
// for our webhook handler and for a no-op controller-runtime handler on the
// same stack (controller-runtime webhook.Server, the TLS settings
// webhook.Run uses), each in a server process of its own. The load
// generator POSTs the AdmissionReview of a realistic annotated pod at fixed
// rates (open loop: latency counts from the intended send time, so a
// stalled server cannot hide its queue) and at the maximum (closed loop, N
// workers). Repeated runs, median and spread; no figure is a pass/fail test.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	out := flag.String("out", ".bench/webhook.json", "raw figures (JSON)")
	runs := flag.Int("runs", 3, "repetitions of each load")
	duration := flag.Duration("duration", 4*time.Second, "length of each load")
	rates := flag.String("rates", "100,1000", "fixed rates (requests per second), comma-separated")
	workers := flag.Int("workers", 32, "closed-loop workers for the maximum")
	h2 := flag.Bool("h2", false, "offer HTTP/2 on the servers (webhook.Run pins HTTP/1.1, the default here)")
	// Server mode: the parent runs itself as each server.
	serveHandler := flag.String("serve", "", "internal: serve this handler (ours|noop)")
	certDir := flag.String("certdir", "", "internal: serving certificate directory")
	port := flag.Int("port", 0, "internal: port to serve on")
	flag.Parse()

	if *serveHandler != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := serve(ctx, *serveHandler, *certDir, *port, *h2); err != nil {
			fmt.Fprintln(os.Stderr, "webhookbench serve:", err)
			os.Exit(1)
		}
		return
	}
	var rs []int
	for _, f := range strings.Split(*rates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 {
			fmt.Fprintf(os.Stderr, "webhookbench: bad rate %q\n", f)
			os.Exit(2)
		}
		rs = append(rs, r)
	}
	if err := run(*out, *runs, *duration, rs, *workers, *h2); err != nil {
		fmt.Fprintln(os.Stderr, "webhookbench:", err)
		os.Exit(1)
	}
}
