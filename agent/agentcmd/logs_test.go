package agentcmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log sink safe for the agent's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// writeVaultConfig writes an agent config for a Vault at addr with token
// auth and one KV v2 secret, and returns its path and the volume.
func writeVaultConfig(t *testing.T, addr, token, extra string) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	tokenPath := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenPath, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`version: secrets.tradepulse.io/v1
backend: {type: vault, vault: {address: "http://%s", auth: token, tokenPath: %q}}
mountPath: %s
adminAddr: %s
metricsAddr: %s
%s
secrets:
  - {name: api-key, ref: "secret/tradepulse/binance#api-key"}
`, addr, tokenPath, dir, freePort(t), freePort(t), extra)
	path = filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// Every line of a Vault agent's log names the backend once: the agent
// names it on its logger, the backend must not add it again.
func TestAgentLogLinesNameTheBackendOnce(t *testing.T) {
	v := newFakeVault("tok-" + sentinelValue)
	v.put("tradepulse/binance", map[string]any{"api-key": "key-" + sentinelValue})
	addr := freePort(t)
	serveFakeVault(t, v, addr)
	path, dir := writeVaultConfig(t, addr, "tok-"+sentinelValue, "")
	var logs lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := agentMain(ctx, []string{"--mode", "init", "--config", path, "--log-format", "json"}, &logs); err != nil {
		t.Fatalf("init: %v\n%s", err, logs.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "api-key")); string(b) != "key-"+sentinelValue {
		t.Fatalf("api-key = %q", b)
	}
	out := strings.TrimSpace(logs.String())
	if !strings.Contains(out, `"msg":"vault token checked"`) {
		t.Fatalf("no line from the Vault backend itself; the check below proves nothing:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if n := strings.Count(line, `"backend":`); n != 1 {
			t.Errorf("%d backend keys in %s", n, line)
		}
	}
	if strings.Contains(out, sentinelValue) {
		t.Errorf("logs hold the secret or the token:\n%s", out)
	}
}

// sentinelValue must never reach a log line.
const sentinelValue = "SENTINEL-cmd-7d1f0b"

// --log-level sets the least severe line written: warn drops the info
// lines a default run writes, and debug, which writes the most, still
// writes no secret or token.
func TestAgentLogLevel(t *testing.T) {
	v := newFakeVault("tok-" + sentinelValue)
	v.put("tradepulse/binance", map[string]any{"api-key": "key-" + sentinelValue})
	addr := freePort(t)
	serveFakeVault(t, v, addr)
	logsAt := func(level string) string {
		path, _ := writeVaultConfig(t, addr, "tok-"+sentinelValue, "")
		var logs lockedBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := agentMain(ctx, []string{"--mode", "init", "--config", path, "--log-level", level}, &logs); err != nil {
			t.Fatalf("init at %s: %v\n%s", level, err, logs.String())
		}
		return logs.String()
	}
	debug, info, warn := logsAt("debug"), logsAt("info"), logsAt("warn")
	if !strings.Contains(info, `"level":"INFO"`) {
		t.Fatalf("an info run wrote no info line; the check below proves nothing:\n%s", info)
	}
	if strings.Contains(warn, `"level":"INFO"`) || strings.Contains(warn, `"level":"DEBUG"`) {
		t.Errorf("a warn run wrote info or debug lines:\n%s", warn)
	}
	if len(debug) < len(info) {
		t.Errorf("a debug run wrote less than an info run:\n%s", debug)
	}
	if strings.Contains(debug, sentinelValue) {
		t.Errorf("debug logs hold the secret or the token:\n%s", debug)
	}
}
