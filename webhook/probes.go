package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// readiness answers /readyz: ready once a certificate is loaded, valid now,
// and the TLS listener completes a handshake with it.
type readiness struct {
	cert    func() (*tls.Certificate, error)
	started func(*http.Request) error
	now     func() time.Time
}

func (r readiness) check(req *http.Request) error {
	c, err := r.cert()
	if err != nil || c == nil || c.Leaf == nil {
		return errors.New("no serving certificate loaded")
	}
	now := r.now()
	if now.Before(c.Leaf.NotBefore) {
		return fmt.Errorf("serving certificate is not valid before %s", c.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if !now.Before(c.Leaf.NotAfter) {
		return fmt.Errorf("serving certificate expired at %s", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return r.started(req)
}

func probeMux(ready readiness) *http.ServeMux {
	mux := http.NewServeMux()
	// Liveness: the process serves HTTP. Certificate trouble is readiness,
	// not a reason to restart.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		if err := ready.check(req); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// metricsMux serves /metrics: reg's metrics and controller-runtime's
// webhook metrics beside them.
func metricsMux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	g := prometheus.Gatherers{reg, ControllerRuntimeWebhookMetrics}
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// crWebhookPrefix starts the names of controller-runtime's webhook
// metrics: controller_runtime_webhook_requests_total,
// _requests_in_flight, _latency_seconds and _panics_total.
const crWebhookPrefix = "controller_runtime_webhook_"

// ControllerRuntimeWebhookMetrics gathers controller-runtime's webhook
// metrics, which the library registers in its own global registry
// (sigs.k8s.io/controller-runtime/pkg/metrics.Registry) and our admission
// server feeds (admissionServer.Register). Only those families: the rest
// of that registry (client-go's, the workqueue's) says nothing about
// admissions, and serving it would need controller-runtime's metrics
// server, which the webhook does without.
var ControllerRuntimeWebhookMetrics prometheus.Gatherer = prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
	mfs, err := ctrlmetrics.Registry.Gather()
	return slices.DeleteFunc(mfs, func(mf *dto.MetricFamily) bool {
		return !strings.HasPrefix(mf.GetName(), crWebhookPrefix)
	}), err
})

// serveHTTP serves h on ln until ctx ends, then shuts down gracefully.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- srv.Shutdown(shutdownCtx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return <-done
}
