package vaulttest

import (
	"context"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/internal/testkit"
)

// DevServer is a Vault dev server of a test's own, for what the shared bed
// must not see: being stopped and started again. Dev mode keeps everything
// in memory: after Start the server has lost its configuration (KV v2 is
// mounted at secret/ again, with no secrets) but has the same root token.
type DevServer struct {
	Addr      string
	RootToken string

	t    testing.TB
	bin  string
	port int

	mu   sync.Mutex
	proc *testkit.Process
	log  testkit.Buffer // the server's output across restarts, shown when the test fails
}

// StartDevServer starts a dev server on a free loopback port and stops it
// when the test ends.
func (e *Env) StartDevServer(t testing.TB) *DevServer {
	t.Helper()
	port := freePortPair(t)
	d := &DevServer{
		Addr:      "http://127.0.0.1:" + strconv.Itoa(port),
		RootToken: Unique("root-"),
		t:         t,
		bin:       e.VaultBin,
		port:      port,
	}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("dev server output:\n%s", d.log.String())
		}
	})
	d.Start()
	return d
}

// Start starts the server (again, after Stop) and waits until it serves.
func (d *DevServer) Start() {
	d.t.Helper()
	d.mu.Lock()
	cmd := exec.Command(d.bin, "server", "-dev",
		"-dev-root-token-id="+d.RootToken,
		"-dev-listen-address=127.0.0.1:"+strconv.Itoa(d.port),
		"-dev-no-store-token")
	p, err := testkit.Start("vault dev server", cmd, &d.log)
	if err != nil {
		d.mu.Unlock()
		d.t.Fatal(err)
	}
	d.proc = p
	d.mu.Unlock()

	c := NewClient(d.t, d.Addr, d.RootToken)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		h, err := c.Sys().HealthWithContext(ctx)
		cancel()
		if err == nil && h.Initialized && !h.Sealed {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("vault dev server on %s not ready after 30s: %v", d.Addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills the server and waits for it to exit. It is a no-op when the
// server is not running.
func (d *DevServer) Stop() {
	d.mu.Lock()
	p := d.proc
	d.proc = nil
	d.mu.Unlock()
	if p == nil {
		return
	}
	p.Kill()
}

// freePortPair is freePort, failing t.
func freePortPair(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
