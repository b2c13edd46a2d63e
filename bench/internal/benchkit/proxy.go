package benchkit

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// VaultProxy is a counting reverse proxy in front of Vault: a client sent
// through it is counted per kind of call, without touching Vault's shared
// configuration (no audit device on a bed other tests use).
type VaultProxy struct {
	URL    string
	srv    *http.Server
	mu     sync.Mutex
	calls  map[string]int
	leases map[string]int
	// renewals holds each lease's successful renewal times since Reset.
	renewals map[string][]time.Time
	since    time.Time
}

// Call kinds counted by VaultProxy.
const (
	CallRenew      = "lease renew"
	CallLogin      = "login"
	CallTokenRenew = "token renew"
	CallKVData     = "kv data read"
	CallKVMetadata = "kv metadata read"
	CallCreds      = "dynamic creds read"
	CallMounts     = "mount lookup"
	CallOther      = "other"
	// CallFailed is added to a call's kind when Vault answers it with an
	// error status: "lease renew failed".
	CallFailed = " failed"
)

// StartVaultProxy proxies a loopback port to target (VAULT_ADDR).
func StartVaultProxy(target string) (*VaultProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &VaultProxy{URL: "http://" + ln.Addr().String(), calls: map[string]int{}, leases: map[string]int{},
		renewals: map[string][]time.Time{}, since: time.Now()}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	p.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: time.Minute, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := classify(r.Method, r.URL.Path)
		var lease string
		if kind == CallRenew && r.Body != nil {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			var body struct {
				LeaseID string `json:"lease_id"`
			}
			_ = json.Unmarshal(b, &body)
			lease = body.LeaseID
		}
		p.mu.Lock()
		p.calls[kind]++
		if lease != "" {
			p.leases[lease]++
		}
		p.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		rp.ServeHTTP(sw, r)
		p.mu.Lock()
		if sw.code >= 400 {
			p.calls[kind+CallFailed]++
		} else if lease != "" {
			p.renewals[lease] = append(p.renewals[lease], time.Now())
		}
		p.mu.Unlock()
	})}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func classify(method, path string) string {
	p := strings.TrimPrefix(path, "/v1/")
	switch {
	case strings.HasPrefix(p, "sys/leases/renew") || strings.HasPrefix(p, "sys/renew"):
		return CallRenew
	case strings.HasPrefix(p, "auth/token/renew"):
		return CallTokenRenew
	case strings.HasPrefix(p, "auth/") && strings.HasSuffix(p, "/login"):
		return CallLogin
	case strings.HasPrefix(p, "sys/internal/ui/mounts"):
		return CallMounts
	case strings.Contains(p, "/creds/"):
		return CallCreds
	case strings.Contains(p, "/metadata/"):
		return CallKVMetadata
	case strings.Contains(p, "/data/") && method == http.MethodGet:
		return CallKVData
	}
	return CallOther
}

// Calls returns the calls counted so far, by kind.
func (p *VaultProxy) Calls() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.calls)
}

// RenewedLeases is how many distinct leases were renewed.
func (p *VaultProxy) RenewedLeases() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.leases)
}

// Reset forgets the counts.
func (p *VaultProxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = map[string]int{}
	p.leases = map[string]int{}
	p.renewals = map[string][]time.Time{}
	p.since = time.Now()
}

// Lapsed counts the leases among ids that went longer than ttl without a
// successful renewal between the last Reset and now: leases that expired
// (Vault revokes a lease at its end) while the agent held them. A lease
// renewed just before Reset counts from Reset, so the figure is exact only
// for leases renewed within ttl of Reset; leasebench resets once all are
// freshly held.
func (p *VaultProxy) Lapsed(ids []string, ttl time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	n := 0
	for _, id := range ids {
		last := p.since
		lapsed := false
		for _, t := range append(p.renewals[id], now) {
			if t.Sub(last) > ttl {
				lapsed = true
			}
			last = t
		}
		if lapsed {
			n++
		}
	}
	return n
}

// RenewedIDs are the leases renewed since the last Reset.
func (p *VaultProxy) RenewedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.leases))
	for id := range p.leases {
		ids = append(ids, id)
	}
	return ids
}

// statusWriter remembers the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Close stops the proxy.
func (p *VaultProxy) Close() { _ = p.srv.Close() }

// Total sums every kind of call.
func Total(calls map[string]int) int {
	n := 0
	for _, v := range calls {
		n += v
	}
	return n
}
