package webhook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/webhook/certs"
)

// testServer is an admissionServer on a local port with a certificate for
// 127.0.0.1.
type testServer struct {
	*admissionServer
	url     string
	pool    *x509.CertPool
	metrics *Metrics
}

func startTestServer(t *testing.T, limits Limits, m Mutator) *testServer {
	t.Helper()
	res, err := certs.Reconcile(certs.Bundle{}, time.Now(), certs.Policy{Hosts: []string{"127.0.0.1"}}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(res.Bundle.Cert, res.Bundle.Key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(res.Bundle.CACerts)
	metrics := NewMetrics(prometheus.NewRegistry())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := newAdmissionServer("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		limits.withDefaults(), metrics, log)
	s.Register(Path, NewHandler(m, metrics, log).Webhook())
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Start returned: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	return &testServer{admissionServer: s, url: "https://" + s.Addr().String() + Path, pool: pool, metrics: metrics}
}

// client is what the API server is to the webhook: TLS to the service,
// one call per admission, abandoned after the timeout.
func (s *testServer) client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
	}}
}

// dial opens a TLS connection, failing if the handshake takes longer than
// timeout.
func (s *testServer) dial(timeout time.Duration) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	c, err := tls.DialWithDialer(d, "tcp", s.Addr().String(), &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// review is an AdmissionReview of pod.
func review(t testing.TB, pod *corev1.Pod) []byte {
	t.Helper()
	req := podRequest(t, mustJSON(t, pod))
	return mustJSON(t, admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req.AdmissionRequest,
	})
}

// admit posts an admission review and returns the status and the response.
func admit(c *http.Client, url string, body io.Reader) (int, *admissionv1.AdmissionReview, http.Header, error) {
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, resp.Header, nil
	}
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &ar); err != nil {
		return resp.StatusCode, nil, resp.Header, err
	}
	return resp.StatusCode, &ar, resp.Header, nil
}

// drip keeps writing a byte to c every 50 ms until a write fails, and
// reports on done when the server has closed the connection (a read ends).
func drip(c net.Conn, first string) (closed <-chan time.Time) {
	out := make(chan time.Time, 1)
	go func() {
		if _, err := io.WriteString(c, first); err != nil {
			return
		}
		for {
			time.Sleep(50 * time.Millisecond)
			if _, err := c.Write([]byte("a")); err != nil {
				return
			}
		}
	}()
	go func() {
		// Whatever the server answers (an error status, or nothing),
		// reading ends when it closes the connection.
		_, _ = io.Copy(io.Discard, c)
		out <- time.Now()
	}()
	return out
}

// TestServerCutsOffDripping: a client that sends its request a byte at a
// time is cut off once the read deadlines pass — before, such a client held
// its connection for over a minute. The admission timeout here is 1s: the
// header must arrive within 0.5s, the whole request within 0.75s.
func TestServerCutsOffDripping(t *testing.T) {
	s := startTestServer(t, Limits{AdmissionTimeout: time.Second}, InjectorMutator(testInjectorOptions()))
	for name, first := range map[string]string{
		"header": "POST " + Path + " HTTP/1.1\r\nHost: webhook\r\nX-Drip: ",
		"body":   "POST " + Path + " HTTP/1.1\r\nHost: webhook\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := s.dial(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			select {
			case at := <-drip(c, first):
				t.Logf("cut off after %s", at.Sub(start).Round(10*time.Millisecond))
			case <-time.After(10 * time.Second):
				t.Fatal("a dripping client still holds its connection after 10s")
			}
		})
	}
}

// TestServerCapsConnections: past MaxConnections, connections wait (their
// TLS handshake does not start) while the ones held are cut off by the read
// deadlines; an ordinary admission that arrives meanwhile still succeeds
// within the API server's timeout.
func TestServerCapsConnections(t *testing.T) {
	const timeout = 2 * time.Second
	s := startTestServer(t, Limits{AdmissionTimeout: timeout, MaxConnections: 3}, InjectorMutator(testInjectorOptions()))
	var held []<-chan time.Time
	for range 3 {
		c, err := s.dial(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, drip(c, "POST "+Path+" HTTP/1.1\r\nHost: webhook\r\nX-Drip: "))
	}
	if c, err := s.dial(300 * time.Millisecond); err == nil {
		c.Close()
		t.Fatal("a fourth connection was served past the cap of 3")
	}
	if n := s.open.Load(); n > 3 {
		t.Errorf("%d connections open, cap 3", n)
	}

	status, ar, _, err := admit(s.client(timeout), s.url, bytes.NewReader(review(t, testPod(nil))))
	if err != nil {
		t.Fatalf("the admission did not finish within the %s timeout: %v", timeout, err)
	}
	if status != http.StatusOK || ar.Response == nil || !ar.Response.Allowed || len(ar.Response.Patch) == 0 {
		t.Fatalf("admission: status %d, response %+v", status, ar)
	}
	for _, h := range held {
		select {
		case <-h:
		case <-time.After(10 * time.Second):
			t.Fatal("a held connection was never cut off")
		}
	}
}

// TestServerBodyLimit: a body over MaxRequestBytes is refused with 413,
// announced (Content-Length) or not (chunked).
func TestServerBodyLimit(t *testing.T) {
	s := startTestServer(t, Limits{MaxRequestBytes: 64 << 10, MaxInflightBytes: 64 << 10}, InjectorMutator(testInjectorOptions()))
	big := testPod(func(p *corev1.Pod) { p.Annotations["team"] = strings.Repeat("x", 100<<10) })
	body := review(t, big)
	for name, r := range map[string]io.Reader{
		"content-length": bytes.NewReader(body),
		"chunked":        io.MultiReader(bytes.NewReader(body)), // no length: sent chunked
	} {
		t.Run(name, func(t *testing.T) {
			status, _, _, err := admit(s.client(5*time.Second), s.url, r)
			if err != nil {
				t.Fatal(err)
			}
			if status != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", status)
			}
		})
	}
	if got := testutil.ToFloat64(s.metrics.refused.WithLabelValues(RefusedTooLarge)); got != 2 {
		t.Errorf("refused too_large = %v, want 2", got)
	}
	// An ordinary pod still passes.
	if status, ar, _, err := admit(s.client(5*time.Second), s.url, bytes.NewReader(review(t, testPod(nil)))); err != nil || status != http.StatusOK || !ar.Response.Allowed {
		t.Errorf("ordinary admission: %d, %v", status, err)
	}
}

// blockingMutator holds every admission until released.
type blockingMutator struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingMutator) Mutate(*corev1.Pod) (bool, error) {
	b.entered <- struct{}{}
	<-b.release
	return false, nil
}

// TestServerBusy: when the admission slots, or the request bytes in flight,
// are at their limit, a request waits at most half the admission timeout and
// is then answered 429 with Retry-After, rather than queueing until the API
// server gives up; the running admission completes.
func TestServerBusy(t *testing.T) {
	withBytes := func(n int) *corev1.Pod {
		return testPod(func(p *corev1.Pod) { p.Annotations["team"] = strings.Repeat("x", n) })
	}
	for _, tt := range []struct {
		name          string
		limits        Limits
		first, second *corev1.Pod
	}{
		{"admission slots", Limits{AdmissionTimeout: time.Second, MaxConcurrent: 1}, testPod(nil), testPod(nil)},
		// The first request holds about 50 KiB of the 64 KiB in flight;
		// the second's 20 KiB do not fit.
		{"bytes in flight", Limits{AdmissionTimeout: time.Second, MaxRequestBytes: 64 << 10, MaxInflightBytes: 64 << 10},
			withBytes(50 << 10), withBytes(20 << 10)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &blockingMutator{entered: make(chan struct{}, 2), release: make(chan struct{})}
			s := startTestServer(t, tt.limits, m)
			var wg sync.WaitGroup
			wg.Add(1)
			var firstStatus int
			var firstErr error
			go func() {
				defer wg.Done()
				firstStatus, _, _, firstErr = admit(s.client(10*time.Second), s.url, bytes.NewReader(review(t, tt.first)))
			}()
			<-m.entered
			status, _, hdr, err := admit(s.client(5*time.Second), s.url, bytes.NewReader(review(t, tt.second)))
			if err != nil {
				t.Fatal(err)
			}
			if status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
				t.Errorf("second request: status %d, Retry-After %q; want 429 with Retry-After", status, hdr.Get("Retry-After"))
			}
			close(m.release)
			wg.Wait()
			if firstErr != nil || firstStatus != http.StatusOK {
				t.Errorf("first request: %d, %v", firstStatus, firstErr)
			}
			if got := testutil.ToFloat64(s.metrics.refused.WithLabelValues(RefusedBusy)); got != 1 {
				t.Errorf("refused busy = %v, want 1", got)
			}
		})
	}
}

// TestServerReadyWhileCapped: readiness does not dial the admission port,
// so a full connection cap does not make the webhook unready.
func TestServerReadyWhileCapped(t *testing.T) {
	s := startTestServer(t, Limits{MaxConnections: 1}, InjectorMutator(testInjectorOptions()))
	c, err := s.dial(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := bufio.NewWriter(c)
	fmt.Fprintf(w, "POST %s HTTP/1.1\r\nHost: webhook\r\nX-Drip: ", Path)
	_ = w.Flush()
	if err := s.StartedChecker()(nil); err != nil {
		t.Errorf("not ready with the cap full: %v", err)
	}
}

// TestRunBoundsTheAdmissionPort: Run serves through the bounded server with
// the limits of its Config.
func TestRunBoundsTheAdmissionPort(t *testing.T) {
	dir := t.TempDir()
	bundle := fileModeBundle(t, dir, certs.Bundle{}, time.Now(), []string{"127.0.0.1"})
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	port := freePort(t)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Host: "127.0.0.1", Port: port, TLSMode: TLSModeFile, CertDir: dir,
			ProbeAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), MetricsAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			NativeSidecars: NativeSidecarsTrue, Mutator: InjectorMutator(testInjectorOptions()),
			Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Limits: Limits{MaxRequestBytes: 64 << 10, MaxInflightBytes: 64 << 10},
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle.CACerts)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	url := fmt.Sprintf("https://127.0.0.1:%d%s", port, Path)
	big := review(t, testPod(func(p *corev1.Pod) { p.Annotations["team"] = strings.Repeat("x", 100<<10) }))
	eventually(t, 20*time.Second, "webhook serving", func() error {
		status, _, _, err := admit(c, url, bytes.NewReader(big))
		if err != nil {
			return err
		}
		if status != http.StatusRequestEntityTooLarge {
			return fmt.Errorf("status %d, want 413", status)
		}
		return nil
	})
}
