package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/tradepulse/secret-injector/agent/config"
)

// httpTimeout bounds one call to the app's reload endpoint.
const httpTimeout = 5 * time.Second

// httpNotifier calls a reload endpoint the app serves on localhost.
type httpNotifier struct {
	url     string
	method  string
	client  *http.Client
	timeout time.Duration
	log     *slog.Logger
	record  func(kind, result string)
}

func newHTTP(cfg config.Notify, log *slog.Logger, record func(kind, result string)) (*httpNotifier, error) {
	// Validated with the config already; checked again because this is
	// where the request is made.
	if err := config.ValidateLocalURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("notify.url: %w", err)
	}
	method := cfg.Method
	if method == "" {
		method = http.MethodPost
	}
	if _, err := http.NewRequest(method, cfg.URL, nil); err != nil {
		return nil, fmt.Errorf("notify: %s %s: %w", method, cfg.URL, err)
	}
	dialer := &net.Dialer{Timeout: httpTimeout, Control: loopbackOnly}
	return &httpNotifier{
		url:    cfg.URL,
		method: method,
		client: &http.Client{
			Transport: &http.Transport{
				// No proxy: the call is to the app next door. No idle
				// connections: calls are rare and nothing should linger.
				Proxy:             nil,
				DialContext:       dialer.DialContext,
				DisableKeepAlives: true,
			},
			// A redirect could lead off the loopback host: do not follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout: httpTimeout,
		log:     log,
		record:  record,
	}, nil
}

// loopbackOnly refuses connections to anything but a loopback address, in
// case "localhost" resolves elsewhere.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", host)
	}
	return nil
}

// Notify makes the call; a 2xx answer is success. The app's start time is
// not known here: it is always called.
func (n *httpNotifier) Notify(ctx context.Context, _ time.Time) error {
	err := n.notify(ctx)
	if err != nil {
		n.record(KindHTTP, ResultError)
		return err
	}
	n.record(KindHTTP, ResultOK)
	return nil
}

func (n *httpNotifier) notify(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, n.method, n.url, nil)
	if err != nil {
		return fmt.Errorf("notify: %s %s: %w", n.method, n.url, err)
	}
	req.Header.Set("User-Agent", "secret-injector")
	resp, err := n.client.Do(req)
	if err != nil {
		// url.Error repeats the method and URL; keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("notify: %s %s: %w", n.method, n.url, err)
	}
	// The body is the app's business; read a little so the connection
	// closes cleanly, never report it.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("notify: %s %s: status %s", n.method, n.url, resp.Status)
	}
	n.log.Info("notified app", "method", n.method, "url", n.url, "status", resp.StatusCode)
	return nil
}
