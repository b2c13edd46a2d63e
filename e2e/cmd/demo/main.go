// Command demo walks through the operators' runbook and keeps its bed
// running until Ctrl-C, then tears it down.
//
// With -cluster (`make demo`) it runs on the real cluster of
// hack/cluster.sh: the chart installed with helm from the image `make image`
// builds, a Deployment run by the kubelet (e2e/clusterdemo). Without it
// (`make demo-fast`) it runs on the fast bed: kube-apiserver and etcd, the
// webhook as a local process, the pod runner playing the kubelet (e2e/demo).
// Both use the GCP and AWS protocol servers, and Vault + PostgreSQL when
// hack/vault-bed.sh's environment is set.
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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/clusterbed"
	"github.com/tradepulse/secret-injector/e2e/clusterdemo"
	"github.com/tradepulse/secret-injector/e2e/demo"
)

func main() {
	exit := flag.Bool("exit", false, "exit when the walk-through ends instead of waiting for Ctrl-C")
	backend := flag.String("backend", "", "backend of the demo pods: vault, gcp, aws or env (default: vault with the Vault bed, else gcp)")
	interval := flag.Duration("interval", 2*time.Second, "the pods' refresh interval (fast bed)")
	cluster := flag.Bool("cluster", false, "run on the real cluster of hack/cluster.sh (its environment must be set)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := runFast
	if *cluster {
		run = runCluster
	}
	if err := run(ctx, os.Stdout, *backend, *interval, *exit); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		stop()
		os.Exit(1)
	}
}

// runCluster is the walk-through on the real cluster.
func runCluster(ctx context.Context, out io.Writer, backend string, _ time.Duration, exit bool) error {
	started := time.Now()
	fmt.Fprintln(out, "==> installing the chart on the cluster")
	c, stopBed, err := clusterbed.Start(ctx, clusterbed.Options{Log: indent{out}})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "==> helm uninstall, stopping the protocol servers")
		stopBed()
	}()
	d, err := clusterdemo.Run(ctx, c, clusterdemo.Options{Out: out, Backend: backend})
	if d != nil && d.Namespace != "" {
		defer func() {
			_ = c.Client.CoreV1().Namespaces().Delete(context.Background(), d.Namespace, metav1.DeleteOptions{})
		}()
	}
	if err != nil {
		return err
	}
	return wait(ctx, out, started, exit)
}

// wait ends the walk-through, or keeps the bed up until Ctrl-C.
func wait(ctx context.Context, out io.Writer, started time.Time, exit bool) error {
	fmt.Fprintf(out, "\n==> walk-through done in %s\n", time.Since(started).Round(100*time.Millisecond))
	if exit {
		return nil
	}
	fmt.Fprintln(out, "    the bed keeps running; Ctrl-C stops it and cleans up")
	<-ctx.Done()
	fmt.Fprintln(out)
	return nil
}

// runFast is the walk-through on the fast bed (the pod runner).
func runFast(ctx context.Context, out io.Writer, backend string, interval time.Duration, exit bool) error {
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
	return wait(ctx, out, started, exit)
}

// indent prefixes the bed's progress lines.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	if _, err := fmt.Fprintf(i.w, "    %s", p); err != nil {
		return 0, err
	}
	return len(p), nil
}
