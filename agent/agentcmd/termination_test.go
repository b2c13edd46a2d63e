package agentcmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInitFailureIsTheTerminationMessage: an init container that gives up
// leaves, in its termination log, what kubectl describe pod shows: the
// secrets it could not write, their references and the backend's answer,
// never a value (one secret read holds the sentinel, and one of them fails
// to render over it).
func TestInitFailureIsTheTerminationMessage(t *testing.T) {
	v := newFakeVault("tok-" + sentinelValue)
	v.put("tradepulse/binance", map[string]any{"api-key": "key-" + sentinelValue})
	addr := freePort(t)
	serveFakeVault(t, v, addr)

	tokenPath := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenPath, []byte("tok-"+sentinelValue), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`version: secrets.tradepulse.io/v1
backend: {type: vault, vault: {address: "http://%s", auth: token, tokenPath: %q}}
mountPath: %s
initTimeout: 2s
secrets:
  - {name: api-key, ref: "secret/tradepulse/binance#api-key"}
  - {name: api-secret, ref: "secret/tradepulse/kraken#api-secret"}
  - {name: binance.json, ref: "secret/tradepulse/binance#api-key", format: json}
`, addr, tokenPath, t.TempDir())
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	termLog := filepath.Join(t.TempDir(), "termination-log")
	if err := os.WriteFile(termLog, nil, 0o666); err != nil {
		t.Fatal(err)
	}

	var logs lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := agentMain(ctx, []string{"--mode", "init", "--config", path, "--termination-log", termLog}, &logs)
	if err == nil {
		t.Fatal("init succeeded with a secret missing")
	}
	b, rerr := os.ReadFile(termLog)
	if rerr != nil {
		t.Fatal(rerr)
	}
	msg := string(b)
	for _, want := range []string{
		"secret-injector: init: gave up after 2s",
		"api-secret (secret/tradepulse/kraken#api-secret)", "secret not found",
		"binance.json (secret/tradepulse/binance#api-key)", "format json", "not valid JSON",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("termination message lacks %q:\n%s", want, msg)
		}
	}
	if len(msg) > 4096 || strings.Contains(msg, sentinelValue) || strings.Contains(msg, "tok-") {
		t.Errorf("termination message is %d bytes or holds a secret:\n%s", len(msg), msg)
	}
	if strings.Contains(logs.String(), sentinelValue) {
		t.Errorf("logs hold a secret:\n%s", logs.String())
	}

	// Where the kubelet made no termination log, none is created.
	if err := os.Remove(termLog); err != nil {
		t.Fatal(err)
	}
	if err := agentMain(ctx, []string{"--mode", "init", "--config", path, "--termination-log", termLog}, &logs); err == nil {
		t.Fatal("second init succeeded")
	}
	if _, err := os.Stat(termLog); !os.IsNotExist(err) {
		t.Errorf("termination log created where none was: %v", err)
	}
}
