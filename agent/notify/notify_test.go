package notify

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/config"
)

// recorder collects record calls as "kind/result".
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) record(kind, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, kind+"/"+result)
}

func (r *recorder) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.Notify
	}{
		{"unknown signal", config.Notify{Signal: "SIGKILL", Process: "app"}},
		{"signal without process", config.Notify{Signal: "SIGHUP"}},
		{"signal and url", config.Notify{Signal: "SIGHUP", Process: "app", URL: "http://localhost/reload"}},
		{"url off localhost", config.Notify{URL: "http://example.com/reload"}},
		{"url with user info", config.Notify{URL: "http://user@127.0.0.1/reload"}},
		{"bad method", config.Notify{URL: "http://127.0.0.1/reload", Method: "PO ST"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n, err := New(tc.cfg, nil, nil); err == nil {
				t.Errorf("New(%+v) = %T, want an error", tc.cfg, n)
			}
		})
	}
}

func TestNone(t *testing.T) {
	var r recorder
	n, err := New(config.Notify{}, nil, r.record)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), time.Time{}); err != nil {
		t.Errorf("Notify: %v", err)
	}
	if diff := cmp.Diff([]string{"none/skipped"}, r.calls()); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}
