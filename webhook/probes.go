package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

func metricsMux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

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
