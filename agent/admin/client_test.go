package admin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/admin"
)

// fakeAgent answers from canned values and records the secret names it was
// asked about.
type fakeAgent struct {
	mu      sync.Mutex
	asked   []string
	status  admin.Status
	refresh admin.RefreshResult
	revoke  admin.RevokeResult
	err     error
}

func (f *fakeAgent) Status() admin.Status { return f.status }

func (f *fakeAgent) Refresh(_ context.Context, name string) (admin.RefreshResult, error) {
	f.record(name)
	return f.refresh, f.err
}

func (f *fakeAgent) RevokeLeases(_ context.Context, name string) (admin.RevokeResult, error) {
	f.record(name)
	return f.revoke, f.err
}

func (f *fakeAgent) record(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, name)
}

func serve(t *testing.T, a admin.Agent) *admin.Client {
	t.Helper()
	srv := httptest.NewServer(admin.Handler(a, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(srv.Close)
	return &admin.Client{HTTP: srv.Client(), BaseURL: srv.URL + "/"}
}

var when = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func TestClientStatus(t *testing.T) {
	want := admin.Status{Backend: "vault", Mode: "sidecar", Ready: true, Secrets: []admin.SecretStatus{
		{Name: "db", Ref: "database/creds/app", OK: true, Version: "3", LastSuccess: when, Result: "updated",
			Lease: &admin.LeaseStatus{ID: "database/creds/app/abc", TTLSeconds: 60, Expiry: when.Add(time.Minute), Renewable: true}},
		{Name: "api-key", Ref: "kv/api-key", OK: false, LastError: "permission denied", Result: "denied"},
	}}
	c := serve(t, &fakeAgent{status: want})
	got, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("status (-want +got):\n%s", d)
	}
}

func TestClientRefresh(t *testing.T) {
	ok := admin.SecretStatus{Name: "db", OK: true, Version: "4", Result: "updated"}
	failing := admin.SecretStatus{Name: "api-key", OK: false, LastError: "permission denied", Result: "denied"}
	for _, tc := range []struct {
		name      string
		agent     *fakeAgent
		secret    string
		want      admin.RefreshResult
		wantErrIs error
		// wantErr are substrings of the error message.
		wantErr []string
	}{
		{name: "all ok", agent: &fakeAgent{refresh: admin.RefreshResult{Secrets: []admin.SecretStatus{ok}}},
			want: admin.RefreshResult{Secrets: []admin.SecretStatus{ok}}},
		{name: "one secret", secret: "db", agent: &fakeAgent{refresh: admin.RefreshResult{Secrets: []admin.SecretStatus{ok}}},
			want: admin.RefreshResult{Secrets: []admin.SecretStatus{ok}}},
		{name: "a secret ends failing: result and error", agent: &fakeAgent{refresh: admin.RefreshResult{Secrets: []admin.SecretStatus{ok, failing}}},
			want:      admin.RefreshResult{Secrets: []admin.SecretStatus{ok, failing}},
			wantErrIs: admin.ErrSecretFailing, wantErr: []string{"refresh: agent answered 502", "secret api-key: permission denied"}},
		{name: "unknown secret", secret: "nope", agent: &fakeAgent{err: admin.ErrUnknownSecret},
			wantErrIs: admin.ErrUnknownSecret, wantErr: []string{"refresh: agent answered 404 Not Found: no such secret"}},
		{name: "agent error", agent: &fakeAgent{err: errors.New("volume is read-only")},
			wantErr: []string{"refresh: agent answered 500 Internal Server Error: volume is read-only"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := serve(t, tc.agent).Refresh(context.Background(), tc.secret)
			checkErr(t, err, tc.wantErrIs, tc.wantErr)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("result (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]string{tc.secret}, tc.agent.asked); d != "" {
				t.Errorf("secret the agent was asked about (-want +got):\n%s", d)
			}
		})
	}
}

func TestClientRevokeLeases(t *testing.T) {
	done := admin.Revocation{Secret: "db", RevokedLease: "database/creds/app/old", NewLease: "database/creds/app/new"}
	failed := admin.Revocation{Secret: "db", RevokedLease: "database/creds/app/old", Error: "fetching new credentials failed: permission denied"}
	for _, tc := range []struct {
		name      string
		agent     *fakeAgent
		secret    string
		want      admin.RevokeResult
		wantErrIs error
		wantErr   []string
	}{
		{name: "revoked and replaced", secret: "db", agent: &fakeAgent{revoke: admin.RevokeResult{Revoked: []admin.Revocation{done}}},
			want: admin.RevokeResult{Revoked: []admin.Revocation{done}}},
		{name: "replacement failed", agent: &fakeAgent{revoke: admin.RevokeResult{Revoked: []admin.Revocation{failed}}},
			want:      admin.RevokeResult{Revoked: []admin.Revocation{failed}},
			wantErrIs: admin.ErrSecretFailing, wantErr: []string{"revoke: agent answered 502", "secret db: fetching new credentials failed: permission denied"}},
		{name: "no lease", agent: &fakeAgent{err: admin.ErrNoLeases},
			wantErrIs: admin.ErrNoLeases, wantErr: []string{"revoke: agent answered 409 Conflict: no lease to revoke"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := serve(t, tc.agent).RevokeLeases(context.Background(), tc.secret)
			checkErr(t, err, tc.wantErrIs, tc.wantErr)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("result (-want +got):\n%s", d)
			}
			if d := cmp.Diff([]string{tc.secret}, tc.agent.asked); d != "" {
				t.Errorf("secret the agent was asked about (-want +got):\n%s", d)
			}
		})
	}
}

// TestClientNotTheAgent: answers that do not come from the agent's handler
// (a proxy, an old agent, a dead port) say what failed and are never
// mistaken for the agent's sentinels.
func TestClientNotTheAgent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{name: "plain 404", handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			wantErr: "revoke: agent answered 404 Not Found: 404 page not found"},
		{name: "proxy 502 without a body", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) },
			wantErr: "revoke: agent answered 502 Bad Gateway: empty body"},
		{name: "200 that is not JSON", handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<html>") },
			wantErr: "revoke: the agent's answer is not valid JSON"},
		{name: "connection closed", handler: func(w http.ResponseWriter, r *http.Request) {
			c, _, _ := w.(http.Hijacker).Hijack()
			_ = c.Close()
		}, wantErr: "revoke: agent unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := &admin.Client{BaseURL: srv.URL}
			_, err := c.RevokeLeases(context.Background(), "")
			checkErr(t, err, nil, []string{tc.wantErr})
			for _, sentinel := range []error{admin.ErrUnknownSecret, admin.ErrNoLeases, admin.ErrSecretFailing} {
				if errors.Is(err, sentinel) {
					t.Errorf("error %q matches %v", err, sentinel)
				}
			}
		})
	}
}

func TestClientHonoursContext(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&admin.Client{BaseURL: srv.URL}).Status(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func checkErr(t *testing.T, err, wantIs error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if wantIs != nil && !errors.Is(err, wantIs) {
		t.Errorf("error %q does not match %v", err, wantIs)
	}
}
