package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/sync/semaphore"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Defaults of the zero Limits fields.
const (
	// DefaultAdmissionTimeout is the webhook configuration's timeoutSeconds
	// as the chart sets it: the API server abandons a call after it.
	DefaultAdmissionTimeout = 5 * time.Second
	// DefaultMaxConnections caps open connections to the admission port.
	// An idle TLS connection costs the webhook about 40 KiB; the API
	// server keeps a few per replica and opens one per concurrent call.
	DefaultMaxConnections = 128
	// DefaultMaxRequestBytes caps one request body. The API server accepts
	// request bodies up to 3 MiB and etcd stores objects up to 1.5 MiB; a
	// pod CREATE carries one object (no oldObject), which the API server
	// re-encodes as JSON into the AdmissionReview with the user's identity
	// and options. 4 MiB is that 3 MiB plus a MiB for the envelope and the
	// re-encoding: no pod the cluster could store is refused.
	DefaultMaxRequestBytes = 4 << 20
	// DefaultMaxInflightBytes caps the request bytes held at once across
	// requests, read or being admitted. An admission costs about five times
	// its body (the body, the review's copy, the decoded pod, the patched
	// copy, the patch), so 8 MiB keeps bodies' memory near 40 MiB, well
	// within the chart's 128Mi limit: two pods of the largest size at once,
	// or hundreds of ordinary (10 KiB) ones.
	DefaultMaxInflightBytes = 8 << 20
	// DefaultMaxConcurrent caps admissions decoded and mutated at once.
	// Each is CPU-bound and takes about a millisecond (a 3 MB pod, 200 ms):
	// more at once would only share the CPU and make each slower.
	DefaultMaxConcurrent = 8
)

// Server timeouts that do not follow the admission timeout.
const (
	// idleTimeout closes keep-alive connections the API server no longer
	// uses, so that they do not hold connection slots.
	idleTimeout = 30 * time.Second
	// maxHeaderBytes bounds a request's header: the API server sends a few
	// short ones.
	maxHeaderBytes = 32 << 10
	// readChunk is the most of a body read at a time; what was read is
	// accounted against the in-flight budget before it joins the body.
	readChunk = 32 << 10
)

// Limits bound what clients of the admission port can cost: the API server,
// and anything else that can reach the port (see the chart's NetworkPolicy).
// Zero fields take the defaults.
type Limits struct {
	// AdmissionTimeout is the webhook configuration's timeoutSeconds
	// (DefaultAdmissionTimeout). No request is read or answered for longer:
	// the API server has given up by then. The server's timeouts derive
	// from it (see serverTimeouts).
	AdmissionTimeout time.Duration
	// MaxConnections caps open connections (DefaultMaxConnections). Further
	// connections wait in the kernel's accept queue until one closes.
	MaxConnections int
	// MaxRequestBytes caps one request body (DefaultMaxRequestBytes);
	// larger ones are answered 413.
	MaxRequestBytes int64
	// MaxInflightBytes caps the request bytes held at once across requests
	// (DefaultMaxInflightBytes), at least MaxRequestBytes. Bodies are read
	// into it a chunk at a time; a request that finds no room within its
	// queue wait is answered 429.
	MaxInflightBytes int64
	// MaxConcurrent caps admissions decoded and mutated at once
	// (DefaultMaxConcurrent); a request that finds no slot within its queue
	// wait is answered 429.
	MaxConcurrent int
}

func (l Limits) withDefaults() Limits {
	l.AdmissionTimeout = cmp.Or(l.AdmissionTimeout, DefaultAdmissionTimeout)
	l.MaxConnections = cmp.Or(l.MaxConnections, DefaultMaxConnections)
	l.MaxRequestBytes = cmp.Or(l.MaxRequestBytes, DefaultMaxRequestBytes)
	l.MaxInflightBytes = cmp.Or(l.MaxInflightBytes, DefaultMaxInflightBytes)
	l.MaxConcurrent = cmp.Or(l.MaxConcurrent, DefaultMaxConcurrent)
	return l
}

// Validate reports every problem with the limits (after defaults).
func (l Limits) Validate() error {
	l = l.withDefaults()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	// The API server accepts timeoutSeconds from 1 to 30.
	if l.AdmissionTimeout < time.Second || l.AdmissionTimeout > 30*time.Second {
		add("admission timeout %s: the webhook configuration's timeoutSeconds is 1s to 30s", l.AdmissionTimeout)
	}
	if l.MaxConnections < 1 {
		add("max connections %d must be positive", l.MaxConnections)
	}
	if l.MaxRequestBytes < 64<<10 {
		add("max request bytes %d is below 64 KiB, less than an ordinary pod's review", l.MaxRequestBytes)
	}
	if l.MaxInflightBytes < l.MaxRequestBytes {
		add("max in-flight bytes %d is below max request bytes %d: the largest request could never be read", l.MaxInflightBytes, l.MaxRequestBytes)
	}
	if l.MaxConcurrent < 1 {
		add("max concurrent admissions %d must be positive", l.MaxConcurrent)
	}
	return errors.Join(errs...)
}

// serverTimeouts derives the HTTP server's timeouts from the admission
// timeout T, each below it: the API server abandons the call at T, so a
// request still being read, or an answer still being written, after that
// serves no one.
//
//   - the header (and the TLS handshake, which Go bounds by the smallest of
//     the three) within T/2;
//   - the whole request, header and body, within 3T/4;
//   - the answer written within 9T/10 of the header's end;
//   - a request waits for in-flight room and for an admission slot at most
//     T/2 each, then is answered 429, so that the API server hears "busy"
//     rather than a timeout.
type serverTimeouts struct {
	readHeader, read, write, queueWait time.Duration
}

func timeoutsFor(t time.Duration) serverTimeouts {
	return serverTimeouts{readHeader: t / 2, read: t * 3 / 4, write: t * 9 / 10, queueWait: t / 2}
}

// admissionServer serves the admission webhook over TLS with every
// listener bound in place. It implements controller-runtime's
// webhook.Server, whose DefaultServer cannot be given a listener or the
// http.Server's settings: it sets no read timeout (a client sending its body
// a byte at a time held a connection for over a minute), caps no
// connections (5,000 such clients grew the webhook to 172 MB) and reads
// bodies of up to 7 MiB.
type admissionServer struct {
	addr     string
	tls      *tls.Config
	limits   Limits
	timeouts serverTimeouts
	metrics  *Metrics
	log      *slog.Logger

	mux      *http.ServeMux
	inflight *semaphore.Weighted // request bytes held
	slots    *semaphore.Weighted // admissions running

	mu      sync.Mutex
	ln      net.Listener
	started bool
	open    atomic.Int64 // connections accepted and not closed, for tests
}

var _ ctrlwebhook.Server = (*admissionServer)(nil)

// newAdmissionServer builds the server; tlsConfig must serve a certificate
// (GetCertificate). limits must have their defaults.
func newAdmissionServer(addr string, tlsConfig *tls.Config, limits Limits, metrics *Metrics, log *slog.Logger) *admissionServer {
	return &admissionServer{
		addr:     addr,
		tls:      tlsConfig,
		limits:   limits,
		timeouts: timeoutsFor(limits.AdmissionTimeout),
		metrics:  metrics,
		log:      log,
		mux:      http.NewServeMux(),
		inflight: semaphore.NewWeighted(limits.MaxInflightBytes),
		slots:    semaphore.NewWeighted(int64(limits.MaxConcurrent)),
	}
}

// NeedLeaderElection implements webhook.Server: every replica serves.
func (*admissionServer) NeedLeaderElection() bool { return false }

// WebhookMux implements webhook.Server.
func (s *admissionServer) WebhookMux() *http.ServeMux { return s.mux }

// Register serves hook at path behind the request limits, instrumented as
// controller-runtime's own server instruments its webhooks: its
// DefaultServer.Register puts the hook on our mux wrapped in the
// controller_runtime_webhook_requests_total, _latency_seconds and
// _requests_in_flight metrics (label webhook=path), which count every
// answer, a 429 or 413 from the limits included. That server is never
// started; its metrics live in controller-runtime's registry, from which
// metricsMux exports them (ControllerRuntimeWebhookMetrics).
func (s *admissionServer) Register(path string, hook http.Handler) {
	ctrlwebhook.NewServer(ctrlwebhook.Options{WebhookMux: s.mux}).Register(path, s.limit(hook))
}

// Listen opens the listener, so that a taken port fails start-up before
// anything runs. Start calls it if the caller did not.
func (s *admissionServer) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("admission listener: %w", err)
	}
	s.ln = ln
	return nil
}

// closeListener closes the listener if Start never ran (Serve closes it
// otherwise; a second close is harmless).
func (s *admissionServer) closeListener() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		_ = s.ln.Close()
	}
}

// Addr is the listener's address, once listening.
func (s *admissionServer) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Start serves until ctx ends, then shuts down gracefully.
func (s *admissionServer) Start(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	// Connections beyond the cap are not accepted: they wait in the
	// kernel's queue. Counting sits under the cap; TLS sits on top.
	ln := tls.NewListener(netutil.LimitListener(&countingListener{Listener: s.ln, open: &s.open}, s.limits.MaxConnections), s.tls)
	s.started = true
	s.mu.Unlock()

	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: s.timeouts.readHeader,
		ReadTimeout:       s.timeouts.read,
		WriteTimeout:      s.timeouts.write,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), s.limits.AdmissionTimeout+time.Second)
		defer cancel()
		done <- srv.Shutdown(shutdownCtx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve admissions on %s: %w", s.ln.Addr(), err)
	}
	return <-done
}

// StartedChecker implements webhook.Server for the readiness probe: the
// server is serving and its TLS configuration completes a handshake. The
// handshake runs in memory rather than through the listener, so that a
// full connection cap does not make the webhook unready.
func (s *admissionServer) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		s.mu.Lock()
		started := s.started
		s.mu.Unlock()
		if !started {
			return errors.New("webhook server has not been started yet")
		}
		return handshakeInMemory(s.tls)
	}
}

// handshakeInMemory runs a TLS handshake between cfg and a client that
// accepts any certificate.
func handshakeInMemory(cfg *tls.Config) error {
	c, srv := net.Pipe()
	defer c.Close()
	defer srv.Close()
	deadline := time.Now().Add(5 * time.Second)
	_ = c.SetDeadline(deadline)
	_ = srv.SetDeadline(deadline)
	errc := make(chan error, 1)
	go func() { errc <- tls.Server(srv, cfg).Handshake() }()
	// The client only checks that a certificate is served; trust is the
	// API server's business (caBundle).
	client := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // see above
	cerr := client.Handshake()
	if serr := <-errc; serr != nil {
		return fmt.Errorf("webhook server TLS handshake: %w", serr)
	}
	if cerr != nil {
		return fmt.Errorf("webhook server TLS handshake: %w", cerr)
	}
	return nil
}

// countingListener counts open connections.
type countingListener struct {
	net.Listener
	open *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedConn{Conn: c, open: l.open}, nil
}

type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// Reasons a request is refused before admission, the values of the
// reason label.
const (
	RefusedTooLarge = "too_large"
	RefusedBusy     = "busy"
	RefusedRead     = "read_failed"
)

// limit wraps an admission handler with the body cap, the in-flight bytes
// budget and the admission slots. The body is read here, a chunk at a time
// against the budget, so that the expensive work (decoding, mutating) only
// starts on a whole request, and a slow sender holds a connection but
// almost none of the budget and no slot.
func (s *admissionServer) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.limits.MaxRequestBytes {
			s.drain(r.Body)
			s.refuse(w, http.StatusRequestEntityTooLarge, RefusedTooLarge,
				fmt.Sprintf("request body of %d bytes is over the webhook's %d-byte limit", r.ContentLength, s.limits.MaxRequestBytes))
			return
		}
		body, held, err := s.readBody(r.Context(), r.Body)
		defer s.inflight.Release(held)
		switch {
		case errors.Is(err, errTooLarge):
			s.drain(r.Body)
			s.refuse(w, http.StatusRequestEntityTooLarge, RefusedTooLarge,
				fmt.Sprintf("request body is over the webhook's %d-byte limit", s.limits.MaxRequestBytes))
			return
		case errors.Is(err, errBusy):
			s.refuse(w, http.StatusTooManyRequests, RefusedBusy, "the webhook is busy (request bytes in flight at their limit); retry")
			return
		case err != nil:
			// A read timeout or a broken connection: nobody is left to
			// answer, and the error names no content.
			s.metrics.refused.WithLabelValues(RefusedRead).Inc()
			s.log.Debug("request body not read", "err", err)
			http.Error(w, "request body not read", http.StatusBadRequest)
			return
		}
		if err := s.wait(r.Context(), s.slots, 1); err != nil {
			s.refuse(w, http.StatusTooManyRequests, RefusedBusy, "the webhook is busy (admissions at their limit); retry")
			return
		}
		defer s.slots.Release(1)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

var (
	errBusy     = errors.New("no room in flight")
	errTooLarge = errors.New("request body too large")
)

// readBody reads r whole, up to MaxRequestBytes, a chunk at a time: each
// chunk read is accounted against the in-flight budget before it joins the
// body, waiting for room at most the queue wait. It returns the body and the
// room held, which the caller releases (also on error). A slow sender holds
// one chunk's buffer per connection and only the bytes it has sent.
func (s *admissionServer) readBody(ctx context.Context, r io.Reader) (body []byte, held int64, err error) {
	chunk := make([]byte, readChunk)
	for {
		n, rerr := r.Read(chunk)
		if n > 0 {
			if int64(len(body)+n) > s.limits.MaxRequestBytes {
				return nil, held, errTooLarge
			}
			if err := s.wait(ctx, s.inflight, int64(n)); err != nil {
				return nil, held, errBusy
			}
			held += int64(n)
			body = append(body, chunk[:n]...)
		}
		if errors.Is(rerr, io.EOF) {
			return body, held, nil
		}
		if rerr != nil {
			return nil, held, rerr
		}
	}
}

// drain reads and discards up to another MaxRequestBytes of a body that
// is refused as too large, within the connection's read deadline and
// without keeping it: a connection closed with unread bytes is reset, and
// the client would see "connection reset by peer" instead of the 413 that
// says what was wrong. A sender of more than that is cut off.
func (s *admissionServer) drain(body io.Reader) {
	_, _ = io.CopyN(io.Discard, body, s.limits.MaxRequestBytes)
}

// wait acquires n from sem, waiting at most the queue wait.
func (s *admissionServer) wait(ctx context.Context, sem *semaphore.Weighted, n int64) error {
	if sem.TryAcquire(n) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeouts.queueWait)
	defer cancel()
	return sem.Acquire(ctx, n)
}

// refuse answers a request the webhook will not admit, with a reason the
// API server shows in its error.
func (s *admissionServer) refuse(w http.ResponseWriter, code int, reason, msg string) {
	s.metrics.refused.WithLabelValues(reason).Inc()
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(1))
	}
	// A request that was not read whole leaves the connection unusable.
	w.Header().Set("Connection", "close")
	http.Error(w, msg, code)
}
