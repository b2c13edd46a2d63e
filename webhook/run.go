// Package webhook is the mutating admission server around the injector: it
// admits pod CREATEs at Path through its own implementation of
// controller-runtime's webhook.Server, one that bounds what each client can
// cost (server.go), lets injector.Inject mutate the typed pod and the
// library compute the patch, and serves its TLS either from a mounted
// directory (cert-manager) or from a CA and certificate it creates, stores,
// publishes as caBundle and rotates itself. Probes and metrics are served on
// their own plain-HTTP ports.
//
// The webhook never calls a secret backend and never sees a secret value:
// pods carry references only.
package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tradepulse/secret-injector/webhook/certs"
)

// Run serves the webhook until ctx ends, then shuts everything down and
// returns nil; it returns an error if start-up fails or a part stops.
//
// Start-up order: validate cfg; decide native sidecars from the API
// server's version; in self-managed mode make sure the Secret holds a
// current bundle, publish its caBundle and write the pair to CertDir; then
// start the certificate watcher, the TLS server, and the probe and metrics
// servers. It points controller-runtime's logger at cfg.Logger.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	log := cfg.Logger
	ctrllog.SetLogger(logr.FromSlogHandler(log.Handler()))

	restConfig := cfg.RestConfig
	if restConfig == nil && cfg.needsAPI() {
		var err error
		if restConfig, err = ctrlconfig.GetConfig(); err != nil {
			return fmt.Errorf("webhook: kubernetes client config: %w", err)
		}
	}

	mutator := cfg.Mutator
	if mutator == nil {
		native, err := resolveNativeSidecars(cfg.NativeSidecars, restConfig)
		if err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		opts := cfg.Injector
		opts.NativeSidecars = native
		mutator = InjectorMutator(opts)
		log.Info("injector ready", "nativeSidecars", native, "defaultBackend", opts.DefaultBackend)
	}

	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	metrics := NewMetrics(reg)

	// Listeners first, so that a taken port fails start-up, not later.
	probeLn, err := net.Listen("tcp", cfg.ProbeAddr)
	if err != nil {
		return fmt.Errorf("webhook: probe listener: %w", err)
	}
	defer probeLn.Close()
	metricsLn, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("webhook: metrics listener: %w", err)
	}
	defer metricsLn.Close()
	// The certificate watcher is made below, once the certificate is on
	// disk; the handshake asks for it only after the server starts.
	var watcher *certwatcher.CertWatcher
	server := newAdmissionServer(net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), &tls.Config{
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return watcher.GetCertificate(h) },
		MinVersion:     tls.VersionTLS12,
		// HTTP/1.1 only: HTTP/2 rapid-reset floods cannot reach the
		// handler, and the API server speaks HTTP/1.1 to webhooks fine.
		NextProtos: []string{"http/1.1"},
	}, cfg.Limits, metrics, log)
	if err := server.Listen(); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer server.closeListener()

	var selfManaged *selfManagedRunner
	if cfg.TLSMode == TLSModeSelfManaged {
		if selfManaged, err = startSelfManaged(ctx, cfg, restConfig); err != nil {
			return err
		}
	}
	watcher, err = certwatcher.New(filepath.Join(cfg.CertDir, certs.KeyCert), filepath.Join(cfg.CertDir, certs.KeyKey))
	if err != nil {
		return fmt.Errorf("webhook: load serving certificate from %s: %w", cfg.CertDir, err)
	}

	// From here on every part runs in the group: the first to fail stops
	// the others, and all stop when ctx ends.
	g, ctx := errgroup.WithContext(ctx)
	if selfManaged != nil {
		g.Go(func() error { return selfManaged.run(ctx) })
	}
	watcher = watcher.WithWatchInterval(cfg.CertWatchInterval)
	watcher.RegisterCallback(func(c tls.Certificate) {
		metrics.setCertificate(c)
		log.Info("serving certificate loaded", "notAfter", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	})
	g.Go(func() error { return watcher.Start(ctx) })

	server.Register(Path, NewHandler(mutator, metrics, log).Webhook())
	g.Go(func() error { return server.Start(ctx) })

	ready := readiness{cert: func() (*tls.Certificate, error) { return watcher.GetCertificate(nil) }, started: server.StartedChecker(), now: time.Now}
	g.Go(func() error { return serveHTTP(ctx, probeLn, probeMux(ready), log) })
	g.Go(func() error { return serveHTTP(ctx, metricsLn, metricsMux(reg), log) })

	log.Info("webhook serving", "addr", server.Addr().String(), "path", Path, "tlsMode", cfg.TLSMode,
		"admissionTimeout", cfg.Limits.AdmissionTimeout, "maxConnections", cfg.Limits.MaxConnections,
		"maxConcurrent", cfg.Limits.MaxConcurrent, "maxInflightBytes", cfg.Limits.MaxInflightBytes,
		"probeAddr", probeLn.Addr().String(), "metricsAddr", metricsLn.Addr().String())
	if err := g.Wait(); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

// selfManagedRunner is the started self-managed loop.
type selfManagedRunner struct {
	sm   *selfManaged
	next time.Time
}

func (r selfManagedRunner) run(ctx context.Context) error { return r.sm.Start(ctx, r.next) }

// startSelfManaged runs the first round synchronously, so that the
// certificate is on disk before the server starts. The Secret must work; a
// configuration that is not there yet only warns.
func startSelfManaged(ctx context.Context, cfg Config, rc *rest.Config) (*selfManagedRunner, error) {
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("webhook: kubernetes client: %w", err)
	}
	if err := os.MkdirAll(cfg.CertDir, 0o700); err != nil {
		return nil, fmt.Errorf("webhook: cert dir: %w", err)
	}
	sm := &selfManaged{
		client:     client,
		namespace:  cfg.Namespace,
		secretName: cfg.SecretName,
		configName: cfg.WebhookConfigName,
		certDir:    cfg.CertDir,
		policy:     cfg.CertPolicy,
		interval:   cfg.CertCheckInterval,
		now:        time.Now,
		log:        cfg.Logger.With("component", "self-managed-tls"),
	}
	res, err := sm.sync(ctx)
	switch {
	case err != nil && res.nextCheck.IsZero():
		return nil, fmt.Errorf("webhook: self-managed tls: %w", err)
	case err != nil:
		sm.log.Warn("caBundle not published yet; retrying in the background", "err", err)
		res.nextCheck = time.Now().Add(min(cfg.CertCheckInterval, 10*time.Second))
	}
	return &selfManagedRunner{sm: sm, next: res.nextCheck}, nil
}
