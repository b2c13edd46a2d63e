package vault_test

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
	"github.com/tradepulse/secret-injector/agent/backend/vault"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/agent/config"
)

// TestVaultOverTLSWithOwnCA runs a real Vault whose listener's certificate
// is signed by a CA of the test's own: the agent's backend reads through
// it when given the CA bundle (config caCert), and without the bundle
// fails with an error that says the certificate is not trusted and what
// to set, never a bare "x509" line.
//
// Not parallel: it clears the VAULT_* TLS variables for its run.
func TestVaultOverTLSWithOwnCA(t *testing.T) {
	bed := vaulttest.Bed(t)
	c := ctx(t, 2*time.Minute)
	fs, err := vaulttest.StartFileServerTLS(c, bed.VaultBin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fs.Stop)
	root := fs.Client(fs.RootToken)
	if err := root.Sys().MountWithContext(c, "kv", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().WriteWithContext(c, "kv/tradepulse/api-key", map[string]any{"key": backendtest.Sentinel}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicyWithContext(c, "kv-read", kvPolicy("kv", 1)); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Auth().Token().CreateWithContext(c, &api.TokenCreateRequest{Policies: []string{"kv-read"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := vaulttest.WriteFile(t, "token", tok.Auth.ClientToken)
	// The environment must not trust the CA behind the test's back.
	t.Setenv("VAULT_CACERT", "")
	t.Setenv("VAULT_CAPATH", "")
	t.Setenv("VAULT_SKIP_VERIFY", "")

	t.Run("with the CA bundle", func(t *testing.T) {
		b, l := newBackend(t, config.VaultBackend{Address: fs.Addr, CACert: fs.CACert, Auth: vault.AuthToken, TokenPath: tokenFile})
		l.forbid(tok.Auth.ClientToken)
		s, err := b.Fetch(ctx(t, 10*time.Second), "kv/tradepulse/api-key#key")
		if err != nil {
			t.Fatalf("fetch over TLS with the CA bundle: %v", err)
		}
		if string(s.Data) != backendtest.Sentinel {
			t.Errorf("fetched %d bytes, not the value written", len(s.Data))
		}
	})

	t.Run("without the CA bundle", func(t *testing.T) {
		log, l := newLogs(t)
		l.forbid(tok.Auth.ClientToken)
		b, err := vault.New(ctx(t, 10*time.Second), config.VaultBackend{Address: fs.Addr, Auth: vault.AuthToken, TokenPath: tokenFile}, nil, log)
		if err == nil {
			_ = b.Close()
			t.Fatal("logged in over TLS with a certificate from an untrusted CA")
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("error does not wrap x509.UnknownAuthorityError: %v", err)
		}
		for _, want := range []string{"not signed by a CA this agent trusts", "backend.vault.caCert", "VAULT_CACERT", "defaults.vault.caBundle"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not say %q:\n%v", want, err)
			}
		}
		noLeak(t, err, tok.Auth.ClientToken)
	})

	t.Run("with a CA bundle that did not sign it", func(t *testing.T) {
		other, err := vaulttest.WriteTLS(t.TempDir(), "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		log, _ := newLogs(t)
		b, err := vault.New(ctx(t, 10*time.Second), config.VaultBackend{Address: fs.Addr, CACert: other.CACert, Auth: vault.AuthToken, TokenPath: tokenFile}, nil, log)
		if err == nil {
			_ = b.Close()
			t.Fatal("logged in over TLS trusting another CA")
		}
		if !strings.Contains(err.Error(), "not signed by a CA this agent trusts") {
			t.Errorf("error does not explain the TLS failure: %v", err)
		}
	})

	t.Run("a CA bundle file that is missing", func(t *testing.T) {
		_, err := vault.New(ctx(t, 10*time.Second), config.VaultBackend{Address: fs.Addr, CACert: "/nonexistent/ca.crt", Auth: vault.AuthToken, TokenPath: tokenFile}, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "caCert /nonexistent/ca.crt") {
			t.Errorf("error does not name the missing caCert file: %v", err)
		}
	})
}
