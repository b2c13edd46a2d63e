package vaulttest

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
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

	mu  sync.Mutex
	cmd *exec.Cmd
	log bytes.Buffer // the server's output, shown when the test fails
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
			d.mu.Lock()
			t.Logf("dev server output:\n%s", d.log.String())
			d.mu.Unlock()
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
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &d.mu, w: &d.log}, &lockedWriter{mu: &d.mu, w: &d.log}
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		d.mu.Unlock()
		d.t.Fatalf("start vault dev server: %v", err)
	}
	d.cmd = cmd
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
	cmd := d.cmd
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
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

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
