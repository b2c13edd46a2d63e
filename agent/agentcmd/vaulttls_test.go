package agentcmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
)

// TestInitOverTLSWithTheCABundle runs the agent's init mode, as the
// injected init container does, against a real Vault whose TLS certificate
// is signed by a CA of the test's own: with the config's caCert (what the
// injector sets from the chart's CA bundle) it writes the secret; without
// it, it fails closed and its termination message, which kubectl describe
// pod shows, says the certificate is not trusted and what to set.
//
// Not parallel: it clears the VAULT_* TLS variables for its run.
func TestInitOverTLSWithTheCABundle(t *testing.T) {
	bed := vaulttest.Bed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fs, err := vaulttest.StartFileServerTLS(ctx, bed.VaultBin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Stop)
	root := fs.Client(fs.RootToken)
	if err := root.Sys().MountWithContext(ctx, "kv", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().WriteWithContext(ctx, "kv/tradepulse/binance", map[string]any{"api-key": "key-" + sentinelValue}); err != nil {
		t.Fatal(err)
	}
	tokenPath := vaulttest.WriteFile(t, "token", fs.RootToken)
	t.Setenv("VAULT_CACERT", "")
	t.Setenv("VAULT_CAPATH", "")
	t.Setenv("VAULT_SKIP_VERIFY", "")

	initRun := func(t *testing.T, caCert string) (mount, termination string, logs *lockedBuffer, err error) {
		mount = t.TempDir()
		cfg := fmt.Sprintf(`version: secrets.tradepulse.io/v1
backend: {type: vault, vault: {address: %q, caCert: %q, auth: token, tokenPath: %q}}
mountPath: %s
initTimeout: 3s
secrets:
  - {name: api-key, ref: "kv/tradepulse/binance#api-key"}
`, fs.Addr, caCert, tokenPath, mount)
		path := filepath.Join(t.TempDir(), "agent.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		termLog := filepath.Join(t.TempDir(), "termination-log")
		if err := os.WriteFile(termLog, nil, 0o666); err != nil {
			t.Fatal(err)
		}
		logs = &lockedBuffer{}
		err = agentMain(ctx, []string{"--mode", "init", "--config", path, "--termination-log", termLog}, logs)
		b, rerr := os.ReadFile(termLog)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if strings.Contains(logs.String(), sentinelValue) || strings.Contains(logs.String(), fs.RootToken) {
			t.Errorf("logs hold a secret:\n%s", logs.String())
		}
		return mount, string(b), logs, err
	}

	t.Run("with caCert", func(t *testing.T) {
		mount, _, logs, err := initRun(t, fs.CACert)
		if err != nil {
			t.Fatalf("init over TLS with the CA bundle: %v\n%s", err, logs)
		}
		if b, err := os.ReadFile(filepath.Join(mount, "api-key")); err != nil || string(b) != "key-"+sentinelValue {
			t.Errorf("api-key not written as stored (%v)", err)
		}
	})
	t.Run("without caCert", func(t *testing.T) {
		mount, msg, _, err := initRun(t, "")
		t.Logf("termination message:\n%s", msg)
		if err == nil {
			t.Fatal("init succeeded against a Vault whose CA it does not trust")
		}
		for _, want := range []string{"not signed by a CA this agent trusts", "backend.vault.caCert", "defaults.vault.caBundle"} {
			if !strings.Contains(msg, want) {
				t.Errorf("termination message lacks %q:\n%s", want, msg)
			}
		}
		if strings.Contains(msg, sentinelValue) || strings.Contains(msg, fs.RootToken) {
			t.Errorf("termination message holds a secret:\n%s", msg)
		}
		if _, err := os.Stat(filepath.Join(mount, "api-key")); err == nil {
			t.Error("api-key written without a trusted connection")
		}
	})
}
