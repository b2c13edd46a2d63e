package ctl

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestPortForwardFallsBackToSPDY stands in for an API server older than
// 1.30 (or a proxy) that cannot upgrade pods/portforward to WebSockets: the
// dialer must then ask again over SPDY, as kubectl does, and report what
// that answered, naming the pod.
func TestPortForwardFallsBackToSPDY(t *testing.T) {
	pod := injectedPod(t, false, nil)
	path := "/api/v1/namespaces/" + pod.Namespace + "/pods/" + pod.Name + "/portforward"
	var (
		mu   sync.Mutex
		seen []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upgrade := r.Header.Get("Upgrade")
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+upgrade)
		mu.Unlock()
		if strings.EqualFold(upgrade, "websocket") {
			http.Error(w, "this server does not speak WebSockets", http.StatusBadRequest)
			return
		}
		// The SPDY request: refused, so that the test needs no kubelet.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"refused over SPDY","reason":"Forbidden","code":403}`))
	}))
	defer srv.Close()

	cfg := &rest.Config{Host: srv.URL}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, closeFn, err := (&PortForward{Config: cfg, Client: client}).Dial(ctx, pod)
	if err == nil {
		closeFn()
		t.Fatal("port-forward through a server that refuses both upgrades succeeded")
	}
	for _, want := range []string{"pod " + podKey(pod), "refused over SPDY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"GET " + path + " websocket", "POST " + path + " SPDY/3.1"}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}
