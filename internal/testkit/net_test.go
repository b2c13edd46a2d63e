package testkit

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestFreeAddrCanBeListenedOn(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreeAddr's %s: %v", addr, err)
	}
	_ = l.Close()
}

func TestCallReturnsStatusAndBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "want POST, got "+r.Method, http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("revoked " + r.URL.Path))
	}))
	defer srv.Close()
	code, body, err := Call(context.Background(), http.MethodPost, srv.URL+"/v1/leases/revoke")
	if err != nil || code != http.StatusAccepted || body != "revoked /v1/leases/revoke" {
		t.Errorf("Call = %d, %q, %v; want 202, %q, nil", code, body, err, "revoked /v1/leases/revoke")
	}
	code, _, err = Call(context.Background(), http.MethodGet, srv.URL)
	if err != nil || code != http.StatusMethodNotAllowed {
		t.Errorf("Call answered 405 = %d, %v; want the status and no error", code, err)
	}
	if _, _, err := Call(context.Background(), http.MethodGet, "http://"+closedAddr(t)); err == nil {
		t.Error("Call to a closed port: no error")
	}
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
