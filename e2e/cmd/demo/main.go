// Command demo is `make demo`: it brings the e2e bed up (kube-apiserver and
// etcd, the webhook from the chart, the GCP and AWS protocol servers, and
// Vault + PostgreSQL when hack/vault-bed.sh's environment is set), walks
// through the operators' runbook (e2e/demo) and keeps the bed running until
// Ctrl-C, then tears it all down.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/demo"
)

func main() {
	exit := flag.Bool("exit", false, "exit when the walk-through ends instead of waiting for Ctrl-C")
	backend := flag.String("backend", "", "backend of the demo pods: vault, gcp, aws or env (default: vault with the Vault bed, else gcp)")
	interval := flag.Duration("interval", 2*time.Second, "the pods' refresh interval")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *backend, *interval, *exit); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, backend string, interval time.Duration, exit bool) error {
	started := time.Now()
	fmt.Fprintln(out, "==> starting the bed")
	b, stopBed, err := bed.Start(ctx, bed.Options{Log: indent{out}})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "==> stopping the pods, the webhook, the API server and the protocol servers")
		stopBed()
	}()
	d, err := demo.Run(ctx, b, demo.Options{Out: out, Backend: backend, Interval: interval})
	if d != nil {
		defer d.Close()
	}
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "secret-injector-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := b.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	kubectl := "kubectl"
	if assets := os.Getenv("KUBEBUILDER_ASSETS"); assets != "" {
		if _, err := os.Stat(filepath.Join(assets, "kubectl")); err == nil {
			kubectl = filepath.Join(assets, "kubectl")
		}
	}
	fmt.Fprintf(out, "    pods:     %s --kubeconfig %s get pods -A -o wide\n", kubectl, kubeconfig)
	fmt.Fprintf(out, "\n==> walk-through done in %s\n", time.Since(started).Round(100*time.Millisecond))
	if exit {
		return nil
	}
	fmt.Fprintln(out, "    the bed keeps running; Ctrl-C stops it and cleans up")
	<-ctx.Done()
	fmt.Fprintln(out)
	return nil
}

// indent prefixes the bed's progress lines.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	if _, err := fmt.Fprintf(i.w, "    %s", p); err != nil {
		return 0, err
	}
	return len(p), nil
}
