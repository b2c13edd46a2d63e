package agentcmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testLimits are serverLimits short enough to watch them act.
var testLimits = serverLimits{
	readHeader: 200 * time.Millisecond, read: 500 * time.Millisecond, write: time.Second, idle: 300 * time.Millisecond,
	maxHeaderBytes: 4 << 10, maxBodyBytes: 1 << 10, maxConns: 2,
}

// startServe runs serve on a loopback port with limits and returns its
// address.
func startServe(t *testing.T, limits serverLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok"))
	})
	go func() { done <- serve(ctx, ln, h, limits) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// request sends one keep-alive request on conn and reads the answer.
func request(t *testing.T, conn net.Conn, r *bufio.Reader, extra string) *http.Response {
	t.Helper()
	if _, err := fmt.Fprintf(conn, "GET /metrics HTTP/1.1\r\nHost: agent\r\n%s\r\n", extra); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// closedWithin reports whether the server closes conn within d, and when.
func closedWithin(conn net.Conn, r *bufio.Reader, d time.Duration) (time.Duration, bool) {
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(d))
	_, err := r.ReadByte()
	return time.Since(start), errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, bufio.NewReader(conn)
}

func TestAgentListenersAreBounded(t *testing.T) {
	addr := startServe(t, testLimits)

	t.Run("idle keep-alive connection closed after the idle timeout", func(t *testing.T) {
		conn, r := dial(t, addr)
		if resp := request(t, conn, r, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if took, closed := closedWithin(conn, r, 3*time.Second); !closed {
			t.Errorf("an idle connection is still open after %s", took)
		}
	})

	t.Run("silent connection cut after the header timeout", func(t *testing.T) {
		conn, r := dial(t, addr)
		if took, closed := closedWithin(conn, r, 3*time.Second); !closed {
			t.Errorf("a connection that sends nothing is still open after %s", took)
		}
	})

	t.Run("connections beyond the cap wait for a free slot", func(t *testing.T) {
		var held []net.Conn
		for range testLimits.maxConns {
			conn, r := dial(t, addr)
			request(t, conn, r, "")
			held = append(held, conn)
		}
		conn, r := dial(t, addr)
		start := time.Now()
		request(t, conn, r, "")
		if waited := time.Since(start); waited < testLimits.idle/2 {
			t.Errorf("a connection beyond the cap of %d was served after %s, without waiting for an idle one to close", testLimits.maxConns, waited)
		}
		for _, c := range held {
			c.Close()
		}
	})

	t.Run("header beyond the limit gets 431", func(t *testing.T) {
		conn, r := dial(t, addr)
		big := "X-Padding: " + strings.Repeat("a", 9<<10) + "\r\n"
		if resp := request(t, conn, r, big); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("a 9 KiB header got %d, want 431", resp.StatusCode)
		}
		conn2, r2 := dial(t, addr)
		small := "X-Padding: " + strings.Repeat("a", 3<<10) + "\r\n"
		if resp := request(t, conn2, r2, small); resp.StatusCode != http.StatusOK {
			t.Errorf("a 3 KiB header got %d, want 200", resp.StatusCode)
		}
	})

	t.Run("body beyond the limit gets 413", func(t *testing.T) {
		resp, err := http.Post("http://"+addr+"/v1/refresh", "application/json", strings.NewReader(strings.Repeat("x", 64<<10)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("a 64 KiB body got %d, want 413", resp.StatusCode)
		}
	})
}

// The agent's own ports carry limits: both reject a 9 KiB header.
func TestAgentPortsRejectLargeHeaders(t *testing.T) {
	for name, l := range map[string]serverLimits{"metrics": metricsLimits, "admin": adminLimits} {
		if l.readHeader <= 0 || l.read <= 0 || l.write <= 0 || l.idle <= 0 || l.maxHeaderBytes <= 0 || l.maxBodyBytes <= 0 || l.maxConns <= 0 {
			t.Errorf("%s limits %+v leave something unbounded", name, l)
		}
	}
	dir := t.TempDir()
	envFile := filepath.Join(dir, ".env")
	if err := os.WriteFile(envFile, []byte("API_KEY=k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	metricsAddr, adminAddr := freePort(t), freePort(t)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`version: secrets.tradepulse.io/v1
backend: {type: env, env: {files: [%q]}}
mountPath: %s
adminAddr: %s
metricsAddr: %s
secrets:
  - {name: api-key, ref: API_KEY}
`, envFile, filepath.Join(dir, "vol"), adminAddr, metricsAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agentMain(ctx, []string{"--mode", "sidecar", "--config", path}, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}()
	for _, addr := range []string{metricsAddr, adminAddr} {
		waitFor(t, 10*time.Second, func() bool {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		conn, r := dial(t, addr)
		if resp := request(t, conn, r, "X-Padding: "+strings.Repeat("a", 9<<10)+"\r\n"); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: a 9 KiB header got %d, want 431", addr, resp.StatusCode)
		}
	}
}
