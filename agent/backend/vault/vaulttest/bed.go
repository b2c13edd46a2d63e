// Package vaulttest connects tests to the Vault test bed that
// hack/vault-bed.sh runs: a real Vault dev server and a private PostgreSQL
// cluster behind its database secrets engine. Tests call Bed, which reads
// the bed's environment; without it they skip locally and fail in CI, so
// that CI never passes by skipping.
//
// Every helper that creates something in Vault (a mount, a policy, a role)
// names it uniquely and removes it when the test ends, so tests run in
// parallel against one bed.
package vaulttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/internal/testkit"
)

// SkipHint is what a test says when the bed is absent.
const SkipHint = "run hack/vault-bed.sh up and source its env"

// Env is the bed as its env file describes it (testkit.VaultBed, the
// reader the e2e bed and the benchmarks share), with the helpers tests
// use on it.
type Env struct {
	testkit.VaultBed
}

// FromEnviron reads the bed's environment (hack/vault-bed.sh env); missing
// names the variables that are unset, and e is nil when any is.
func FromEnviron() (e *Env, missing []string) {
	b, missing := testkit.ReadVaultBed()
	if len(missing) > 0 {
		return nil, missing
	}
	return &Env{VaultBed: b}, nil
}

// Bed returns the bed's environment. When it is not set, the test is
// skipped with SkipHint, or fails if CI=true. A bed whose Vault does not
// answer fails the test.
func Bed(t testing.TB) *Env {
	t.Helper()
	e, missing := FromEnviron()
	if e == nil {
		msg := fmt.Sprintf("vault test bed not configured (%s unset): %s", strings.Join(missing, ", "), SkipHint)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.Root(t).Sys().HealthWithContext(ctx); err != nil {
		t.Fatalf("vault test bed at %s does not answer (%v): %s", e.Addr, err, SkipHint)
	}
	return e
}

// Root returns a client with the root token.
func (e *Env) Root(t testing.TB) *api.Client {
	t.Helper()
	return NewClient(t, e.Addr, e.RootToken)
}

// NewClient returns a client for addr with token, ignoring VAULT_*
// variables other than those DefaultConfig reads for TLS.
func NewClient(t testing.TB, addr, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatalf("vault client: %v", err)
	}
	c.SetToken(token)
	return c
}

// Unique returns prefix plus random hex: a name no other test uses.
func Unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Context returns a context that ends with the test or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
