package agentcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"

	"github.com/tradepulse/secret-injector/agent"
	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/agent/metrics"
	"github.com/tradepulse/secret-injector/agent/notify"
	"github.com/tradepulse/secret-injector/agent/sink"
	"github.com/tradepulse/secret-injector/internal/cli"
)

// agentFlags are the agent subcommand's flags.
type agentFlags struct {
	mode          string
	configPath    string
	log           cli.LogOptions
	nativeSidecar bool
	// terminationLog is where init mode says why it failed.
	terminationLog string
	// installExec is where init mode copies this binary for env mode's
	// wrapper (exec.go).
	installExec string
}

// register declares the agent command's flags on fs, bound to f.
func (f *agentFlags) register(fs *pflag.FlagSet) {
	cli.EnumVarP(fs, &f.mode, "mode", "", "sidecar", []string{"init", "sidecar"}, "init: fill the volume once and exit (fail closed); sidecar: keep it fresh")
	fs.StringVar(&f.configPath, "config", "", "agent config file (YAML or JSON); default: $"+config.EnvVar)
	f.log.AddFlags(fs, "json")
	fs.StringVar(&f.terminationLog, "termination-log", agent.TerminationLog, "init mode: the file a failure's reason goes to, for kubectl describe pod (written only if it exists)")
	fs.BoolVar(&f.nativeSidecar, "native-sidecar", false, "sidecar mode: this is a native sidecar (an init container with restartPolicy: Always), so the app starts after the first pass, which tells it nothing")
	fs.StringVar(&f.installExec, "install-exec", "", "init mode or a native sidecar: first copy this binary to this path (mode 0555), for env mode's exec wrapper in the app containers")
}

// validate checks what the flags cannot check one by one.
func (f *agentFlags) validate() error {
	// The binary must be in place before the app starts: only the init
	// container and a native sidecar (whose postStart hook holds the app
	// back) run before it.
	if f.installExec != "" && f.mode != "init" && !f.nativeSidecar {
		return cli.Usage(errors.New("--install-exec goes with --mode init or --native-sidecar"))
	}
	if f.nativeSidecar && f.mode != "sidecar" {
		return cli.Usage(errors.New("--native-sidecar goes with --mode sidecar"))
	}
	return nil
}

// agentSetup is the agent command for the frame: its flags, then the run.
func agentSetup(fs *pflag.FlagSet) cli.RunFunc {
	var f agentFlags
	f.register(fs)
	return func(ctx context.Context, _ []string) error {
		if err := f.validate(); err != nil {
			return err
		}
		return runAgent(ctx, f, cli.Stderr(ctx))
	}
}

// parseAgentFlags parses the agent command's arguments as the frame does.
func parseAgentFlags(args []string, stderr io.Writer) (agentFlags, error) {
	var f agentFlags
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return f, cli.Usage(err)
	}
	return f, f.validate()
}

// agentMain is the agent subcommand with its arguments, logging to
// stderr.
func agentMain(ctx context.Context, args []string, stderr io.Writer) error {
	f, err := parseAgentFlags(args, stderr)
	if err != nil {
		return err
	}
	return runAgent(ctx, f, stderr)
}

// runAgent runs the agent the flags describe, logging to stderr. In init
// mode a failure is also the container's termination message, so that a
// pod that cannot start says why in kubectl describe pod.
func runAgent(ctx context.Context, f agentFlags, stderr io.Writer) (err error) {
	if f.mode == "init" {
		defer func() {
			if err == nil {
				return
			}
			if werr := agent.WriteTerminationMessage(f.terminationLog, err); werr != nil {
				fmt.Fprintf(stderr, "could not write the termination message to %s: %v\n", f.terminationLog, werr)
			}
		}()
	}
	if err := installExec(f.installExec); err != nil {
		return err
	}
	cfg, err := loadConfig(f.configPath)
	if err != nil {
		return err
	}
	// The one place that names the backend on the logger: the backends
	// log through it and add no key of their own.
	log := f.log.Logger(stderr).With("mode", f.mode, "backend", cfg.Backend.Type)
	if err := closeProcToOtherProcesses(); err != nil {
		log.Warn("could not make the agent non-dumpable: an app sharing its uid and PID namespace could read its token", "err", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a, closeBackend, err := buildAgent(ctx, cfg, agentOptions{mode: f.mode, nativeSidecar: f.nativeSidecar}, log, metrics.New(reg))
	if err != nil {
		return err
	}
	defer closeBackend()
	if f.mode == "init" {
		return a.agent.RunInit(ctx)
	}
	return a.runSidecar(ctx, reg)
}

// builtAgent is an agent and the parts that run beside it.
type builtAgent struct {
	agent    *agent.Agent
	notifier *notify.Debounced
	cfg      *config.Config
	log      *slog.Logger
}

// agentOptions are the agent command's choices beyond the config.
type agentOptions struct {
	mode          string // "init" or "sidecar"
	nativeSidecar bool
}

func buildAgent(ctx context.Context, cfg *config.Config, o agentOptions, log *slog.Logger, m *metrics.Agent) (*builtAgent, func(), error) {
	vol, err := sink.New(cfg.MountPath, log)
	if err != nil {
		return nil, nil, err
	}
	// The key lives in the volume: the init container makes it, the
	// sidecar finds it, and versions agree between them.
	key := agent.LoadVersionKey(cfg.MountPath, log)
	// The backend opens at first use, and again after a failure: a Vault
	// that does not answer yet, or a login refused for a moment, is a
	// transient error the agent retries with backoff (within initTimeout
	// in init mode), not an exit. It is built on the agent's own context,
	// not the call's: a client may keep the context it was built with.
	be := backend.NewLazy(func(context.Context) (backend.Backend, error) {
		return openBackend(ctx, cfg, key, log)
	}, log)
	closeBackend := func() { _ = be.Close() }
	n, err := notify.New(cfg.Notify, log, func(kind, result string) {
		m.Notifications.WithLabelValues(kind, result).Inc()
	})
	if err != nil {
		closeBackend()
		return nil, nil, err
	}
	deb := notify.NewDebounced(n, time.Duration(cfg.Notify.Debounce), log)
	a := agent.New(agent.Options{Config: cfg, Backend: be, Volume: vol, Notify: deb, Metrics: m, Log: log,
		Mode: o.mode, NativeSidecar: o.nativeSidecar})
	return &builtAgent{agent: a, notifier: deb, cfg: cfg, log: log}, closeBackend, nil
}

// runSidecar runs the refresh loop, the app notifier, the metrics and
// probe server and the admin server until ctx ends.
func (b *builtAgent) runSidecar(ctx context.Context, reg *prometheus.Registry) error {
	probes := http.NewServeMux()
	probes.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	probes.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	probes.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !b.agent.Ready() {
			http.Error(w, "first render not complete", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})

	metricsLn, err := net.Listen("tcp", b.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics listener %s: %w (set metricsAddr in the agent config)", b.cfg.MetricsAddr, err)
	}
	adminLn, err := net.Listen("tcp", b.cfg.AdminAddr)
	if err != nil {
		metricsLn.Close()
		return fmt.Errorf("admin listener %s: %w (set adminAddr in the agent config)", b.cfg.AdminAddr, err)
	}
	b.log.Info("agent listening", "metrics", "http://"+metricsLn.Addr().String()+"/metrics",
		"admin", "http://"+adminLn.Addr().String()+"/v1/status", "dir", b.cfg.MountPath)

	// Every part runs in the group: the first to fail stops the others,
	// and all stop when ctx ends. A part that returns because ctx ended
	// has not failed.
	g, ctx := errgroup.WithContext(ctx)
	start := func(f func() error) {
		g.Go(func() error {
			if err := f(); !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}
	start(func() error { return serve(ctx, metricsLn, probes, metricsLimits) })
	start(func() error { return serve(ctx, adminLn, admin.Handler(b.agent, b.log), adminLimits) })
	start(func() error { return b.notifier.Start(ctx) })
	start(func() error { return b.agent.RunSidecar(ctx) })
	start(func() error { settleAfterFirstPass(ctx, b.agent.Ready); return nil })
	return g.Wait()
}

// serverLimits bound what one agent listener accepts, so that clients
// that hold connections open, or send large headers or bodies, cannot make
// the agent grow: every connection is cut by time, every request by size,
// and the connections open at once are capped (more wait in the kernel's
// backlog until one closes).
type serverLimits struct {
	readHeader, read, write, idle time.Duration
	// maxHeaderBytes is http.Server.MaxHeaderBytes. net/http reads 4 KiB
	// past it before answering 431, so the header block a client may send
	// is maxHeaderBytes + 4 KiB.
	maxHeaderBytes int
	maxBodyBytes   int64
	maxConns       int
}

var (
	// metricsLimits: Prometheus scrapes and the kubelet's probes. Headers
	// up to 8 KiB, no body, a few connections.
	metricsLimits = serverLimits{
		readHeader: 5 * time.Second, read: 10 * time.Second, write: 30 * time.Second, idle: 30 * time.Second,
		maxHeaderBytes: 4 << 10, maxBodyBytes: 4 << 10, maxConns: 16,
	}
	// adminLimits: the operator's commands through a port-forward. A
	// refresh or revoke may wait for the backend: a minute, as long as
	// the commands wait for an answer (ctl.DefaultTimeout), and some.
	adminLimits = serverLimits{
		readHeader: 5 * time.Second, read: 10 * time.Second, write: 2 * time.Minute, idle: 30 * time.Second,
		maxHeaderBytes: 4 << 10, maxBodyBytes: 4 << 10, maxConns: 8,
	}
)

// serve runs an HTTP server on ln within limits until ctx ends, then shuts
// it down gracefully.
func serve(ctx context.Context, ln net.Listener, h http.Handler, limits serverLimits) error {
	srv := &http.Server{
		Handler:           limitBody(h, limits.maxBodyBytes),
		ReadHeaderTimeout: limits.readHeader,
		ReadTimeout:       limits.read,
		WriteTimeout:      limits.write,
		IdleTimeout:       limits.idle,
		MaxHeaderBytes:    limits.maxHeaderBytes,
	}
	ln = netutil.LimitListener(ln, limits.maxConns)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		<-done
		return nil
	}
}

// limitBody answers 413 to a request whose declared body is larger than n
// and cuts any body at n bytes: no agent endpoint takes more.
func limitBody(h http.Handler, n int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, n)
		h.ServeHTTP(w, r)
	})
}
