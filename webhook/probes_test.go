package webhook

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/webhook/certs"
)

func TestProbes(t *testing.T) {
	issued := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	res, err := certs.Reconcile(certs.Bundle{}, issued, certs.Policy{Hosts: []string{"h.ns.svc"}}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(res.Bundle.Cert, res.Bundle.Key)
	if err != nil {
		t.Fatal(err)
	}
	loaded := func() (*tls.Certificate, error) { return &pair, nil }
	none := func() (*tls.Certificate, error) { return nil, nil }
	up := func(*http.Request) error { return nil }
	tests := []struct {
		name     string
		ready    readiness
		wantCode int
		wantBody string
	}{
		{name: "ready", ready: readiness{cert: loaded, started: up, now: func() time.Time { return issued.Add(time.Hour) }}, wantCode: 200, wantBody: "ok"},
		{name: "no certificate yet", ready: readiness{cert: none, started: up, now: time.Now}, wantCode: 503, wantBody: "no serving certificate loaded"},
		{name: "certificate expired", ready: readiness{cert: loaded, started: up, now: func() time.Time { return issued.Add(91 * 24 * time.Hour) }}, wantCode: 503, wantBody: "expired at 2030-04-01T00:00:00Z"},
		{name: "server not listening", ready: readiness{cert: loaded, started: func(*http.Request) error { return errors.New("webhook server is not reachable") }, now: func() time.Time { return issued }}, wantCode: 503, wantBody: "not reachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mux := probeMux(tc.ready)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tc.wantCode || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("readyz = %d %q, want %d with %q", rec.Code, rec.Body.String(), tc.wantCode, tc.wantBody)
			}
			live := httptest.NewRecorder()
			mux.ServeHTTP(live, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			if live.Code != http.StatusOK {
				t.Errorf("healthz = %d, want 200 whatever the certificate", live.Code)
			}
		})
	}
}
