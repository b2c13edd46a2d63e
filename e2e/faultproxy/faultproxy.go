// Package faultproxy is an HTTP reverse proxy that a fault test puts
// between the agents and a server (Vault) to make that server answer with
// an error status or answer late, at will. Faults that are not HTTP — the
// server stopped or sealed, the network cut — are made on the server and
// on the host's packet filter instead.
package faultproxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is what the proxy does to each request; the zero Fault passes
// requests through.
type Fault struct {
	// Status, when set, answers every request with this HTTP status and a
	// Vault-style error body instead of passing it on.
	Status int
	// Delay holds every request this long before passing it on (or before
	// answering with Status).
	Delay time.Duration
}

func (f Fault) String() string {
	switch {
	case f.Status != 0 && f.Delay > 0:
		return fmt.Sprintf("HTTP %d after %s", f.Status, f.Delay)
	case f.Status != 0:
		return fmt.Sprintf("HTTP %d", f.Status)
	case f.Delay > 0:
		return fmt.Sprintf("answers after %s", f.Delay)
	}
	return "pass"
}

// Proxy relays HTTP requests to its target, with the current Fault.
type Proxy struct {
	l   net.Listener
	srv *http.Server

	mu    sync.Mutex
	fault Fault

	// Faulted counts requests answered with the fault's status; Passed
	// those relayed to the target.
	Faulted, Passed atomic.Int64
}

// Start listens on listen (host:port) and relays to target (a URL).
func Start(listen, target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy target %q: %w", target, err)
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = &http.Server{
		Handler:           p.handler(rp),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Set makes every later request meet f.
func (p *Proxy) Set(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// Close stops the proxy and cuts its connections.
func (p *Proxy) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		_ = p.srv.Close()
	}
}

func (p *Proxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		f := p.fault
		p.mu.Unlock()
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if f.Status != 0 {
			p.Faulted.Add(1)
			if f.Status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.Status)
			fmt.Fprintf(w, `{"errors":["injected fault: %d %s"]}`+"\n", f.Status, http.StatusText(f.Status))
			return
		}
		p.Passed.Add(1)
		next.ServeHTTP(w, r)
	})
}
