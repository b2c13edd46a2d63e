package notify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/config"
)

func TestHTTP(t *testing.T) {
	for _, tc := range []struct {
		name       string
		method     string // configured; empty means the default
		status     int
		wantMethod string
		wantErr    []string // substrings; nil means success
	}{
		{name: "default POST, 200", status: 200, wantMethod: "POST"},
		{name: "PUT, 204", method: "PUT", status: 204, wantMethod: "PUT"},
		{name: "server error", status: 500, wantMethod: "POST", wantErr: []string{"/-/reload", "500"}},
		{name: "not found", method: "GET", status: 404, wantMethod: "GET", wantErr: []string{"GET", "/-/reload", "404"}},
		{name: "redirect not followed", status: 302, wantMethod: "POST", wantErr: []string{"302"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = append(got, r.Method+" "+r.URL.Path)
				if tc.status == 302 {
					w.Header().Set("Location", "http://example.com/")
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte("body the agent must not report"))
			}))
			defer srv.Close()
			var r recorder
			n, err := New(config.Notify{URL: srv.URL + "/-/reload", Method: tc.method}, nil, r.record)
			if err != nil {
				t.Fatal(err)
			}
			err = n.Notify(context.Background(), time.Time{})
			if diff := cmp.Diff([]string{tc.wantMethod + " /-/reload"}, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			wantRecord := "http/ok"
			if tc.wantErr != nil {
				wantRecord = "http/error"
				if err == nil {
					t.Fatal("Notify succeeded, want an error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "body") {
					t.Errorf("error %q repeats the response body", err)
				}
			} else if err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if diff := cmp.Diff([]string{wantRecord}, r.calls()); diff != "" {
				t.Errorf("recorded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHTTPUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/reload"
	srv.Close()
	var r recorder
	n, err := New(config.Notify{URL: url}, nil, r.record)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), time.Time{})
	if err == nil || !strings.Contains(err.Error(), url) {
		t.Errorf("Notify to a closed port: %v, want an error naming %s", err, url)
	}
	if diff := cmp.Diff([]string{"http/error"}, r.calls()); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}

func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	n, err := newHTTP(config.Notify{URL: srv.URL}, discard(), func(string, string) {})
	if err != nil {
		t.Fatal(err)
	}
	n.timeout = 50 * time.Millisecond
	if err := n.Notify(context.Background(), time.Time{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Notify to a hung app: %v, want a deadline error", err)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:80":    true,
		"[::1]:8080":      true,
		"10.0.0.1:80":     false,
		"192.168.1.1:443": false,
		"nonsense":        false,
	} {
		if err := loopbackOnly("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("loopbackOnly(%s) = %v, want allowed=%v", addr, err, ok)
		}
	}
}
