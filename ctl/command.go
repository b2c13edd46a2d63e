// Package ctl is the operator's side of secret-injector: the status,
// refresh and revoke commands, run across the injected pods a kubectl-like
// selection picks. Each pod's agent is reached on its loopback-only admin
// API through the API server's pods/portforward, so who may do what is
// plain Kubernetes RBAC. refresh also restarts, the way `kubectl rollout
// restart` does, the workloads of pods that declare they cannot reload.
//
// The transport sits behind Dialer so that tests can reach agents running
// as local processes; everything else runs against a real API server.
package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tradepulse/secret-injector/internal/cli"
)

// Verbs are the commands Main runs.
var Verbs = []string{"status", "refresh", "revoke"}

// Main runs `secret-injector <verb> [args]`: status, refresh or revoke.
// Results go to stdout, progress, warnings and the summary to stderr. The
// error is non-nil when anything failed and names what and why; it
// matches ErrUsage for a bad command line and flag.ErrHelp after -h.
func Main(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	return (&Command{Stdout: stdout, Stderr: stderr}).Run(ctx, verb, args)
}

// Command runs the operator commands. Main uses the zero value with the
// process's streams; tests set Dialer and Now.
type Command struct {
	Stdout, Stderr io.Writer
	// Dialer reaches the agents; nil means a port-forward through the API
	// server.
	Dialer Dialer
	// Now stamps restarts; nil means time.Now.
	Now func() time.Time
}

// Run is Main with this Command's streams, dialer and clock.
func (c *Command) Run(ctx context.Context, verb string, args []string) error {
	if _, ok := verbHelp[verb]; !ok {
		return cli.Usage(fmt.Errorf("unknown command %q: want status, refresh or revoke", verb))
	}
	o, err := ParseOptions(verb, args, c.Stderr)
	if err != nil {
		return err
	}
	return c.run(ctx, verb, o)
}

// run runs verb with parsed and valid options.
func (c *Command) run(ctx context.Context, verb string, o Options) error {
	cfg, ns, err := loadKubeconfig(o)
	if err != nil {
		return err
	}
	if o.Namespace != "" {
		ns = o.Namespace
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	dialer := c.Dialer
	if dialer == nil {
		dialer = &PortForward{Config: cfg, Client: client, Log: o.Log.Logger(c.Stderr)}
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	pods, err := selectPods(ctx, client, scope{namespace: ns, all: o.AllNamespaces, selector: o.Selector, names: o.Pods})
	if err != nil {
		return err
	}
	r := &runner{opts: o, client: client, dialer: dialer, now: now, stderr: c.Stderr}
	var rep *Report
	var runErr error
	switch verb {
	case "status":
		rep = r.status(ctx, pods)
	case "refresh":
		rep, runErr = r.refresh(ctx, pods)
	case "revoke":
		rep = r.revoke(ctx, pods)
	}
	if err := writeReport(c.Stdout, o.Output, rep, now()); err != nil {
		return fmt.Errorf("writing the %s output: %w", verb, err)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(c.Stderr, "warning: "+w)
	}
	fmt.Fprintln(c.Stderr, rep.Summary())
	return errors.Join(runErr, rep.Err())
}

// runner holds what every command needs once the pods are selected.
type runner struct {
	opts   Options
	client kubernetes.Interface
	dialer Dialer
	now    func() time.Time
	stderr io.Writer
}

// fanout works on the pods with --concurrency and --timeout; progress
// lines go to stderr when asked for.
func (r *runner) fanout(progress bool) fanout {
	f := fanout{limit: r.opts.Concurrency, timeout: func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, r.opts.Timeout)
	}}
	if progress {
		f.progress = r.stderr
	}
	return f
}

// skip reports a pod that is not worked on, and why.
func skip(why string) PodReport { return PodReport{Outcome: OutcomeSkipped, Detail: why} }

// fail reports a pod that failed.
func fail(err error) PodReport { return PodReport{Outcome: OutcomeFailed, Detail: err.Error()} }

// preflight says why pod is skipped before its agent is asked anything,
// or "" when it is to be worked on.
func (r *runner) preflight(pod *corev1.Pod) string {
	if why := unreachable(pod); why != "" {
		return why
	}
	if r.opts.Secret != "" && !holdsSecret(pod, r.opts.Secret) {
		return noSecret(r.opts.Secret)
	}
	return ""
}

func noSecret(name string) string { return fmt.Sprintf("holds no secret %q", name) }
