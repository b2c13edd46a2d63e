package agentcmd

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A Vault that refuses connections when the agent starts and answers a
// few seconds later: the init container retries its login and fetch with
// backoff within initTimeout instead of exiting at once, and so does the
// sidecar.
func TestAgentWaitsForVaultToAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a Vault that comes up after a few seconds")
	}
	const down = 3 * time.Second
	for _, mode := range []string{"init", "sidecar"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			v := newFakeVault("tok-" + sentinelValue)
			v.put("tradepulse/binance", map[string]any{"api-key": "key-1"})
			addr := freePort(t) // nothing listens there yet: connection refused
			path, dir := writeVaultConfig(t, addr, "tok-"+sentinelValue, "initTimeout: 30s")
			metrics := readConfigField(t, path, "metricsAddr")

			var logs lockedBuffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				done <- agentMain(ctx, []string{"--mode", mode, "--config", path, "--log-format", "json"}, &logs)
			}()
			time.Sleep(down)
			select {
			case err := <-done:
				t.Fatalf("the agent stopped while Vault was down: %v\n%s", err, logs.String())
			default:
			}
			if v.callCount() != 0 {
				t.Fatal("Vault was called before it listened")
			}
			serveFakeVault(t, v, addr)

			if mode == "init" {
				if err := <-done; err != nil {
					t.Fatalf("init: %v\n%s", err, logs.String())
				}
			} else {
				waitFor(t, 30*time.Second, func() bool {
					resp, err := http.Get("http://" + metrics + "/readyz")
					if err != nil {
						return false
					}
					resp.Body.Close()
					return resp.StatusCode == http.StatusOK
				})
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("sidecar: %v", err)
				}
			}
			t.Logf("%s: files written %s after start, Vault up after %s", mode, time.Since(start), down)
			if b, _ := os.ReadFile(filepath.Join(dir, "api-key")); string(b) != "key-1" {
				t.Fatalf("api-key = %q", b)
			}
		})
	}
}

// readConfigField reads a top-level scalar from an agent config written
// by writeVaultConfig.
func readConfigField(t *testing.T, path, field string) string {
	t.Helper()
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	switch field {
	case "metricsAddr":
		return cfg.MetricsAddr
	case "adminAddr":
		return cfg.AdminAddr
	}
	t.Fatalf("unknown field %s", field)
	return ""
}
