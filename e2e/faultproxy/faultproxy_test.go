package faultproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProxyPassesFailsAndDelays(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "from the server: "+r.URL.Path)
	}))
	defer backend.Close()
	p, err := Start("127.0.0.1:0", backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	get := func() (int, string, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := http.Get("http://" + p.Addr() + "/v1/kv/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), time.Since(start)
	}
	if code, body, _ := get(); code != 200 || body != "from the server: /v1/kv/x" {
		t.Errorf("pass: %d %q", code, body)
	}
	p.Set(Fault{Status: http.StatusTooManyRequests})
	if code, body, _ := get(); code != 429 || !strings.Contains(body, "injected fault: 429") {
		t.Errorf("429 fault: %d %q", code, body)
	}
	p.Set(Fault{Delay: 300 * time.Millisecond})
	if code, _, took := get(); code != 200 || took < 300*time.Millisecond {
		t.Errorf("delay fault: %d after %s, want 200 after ≥ 300ms", code, took)
	}
	p.Set(Fault{})
	if f, pass := p.Faulted.Load(), p.Passed.Load(); f != 1 || pass != 2 {
		t.Errorf("counted %d faulted, %d passed; want 1, 2", f, pass)
	}
}
