package vaulttest

import (
	"os"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// A file-storage server keeps what was written across a restart, and
// refuses reads while sealed.
func TestFileServerKeepsDataAcrossRestartAndSeal(t *testing.T) {
	bin := os.Getenv("SI_VAULT_BIN")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SI_VAULT_BIN unset: " + SkipHint)
		}
		t.Skip("SI_VAULT_BIN unset: " + SkipHint)
	}
	ctx := Context(t, 2*time.Minute)
	s, err := StartFileServer(ctx, bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	root := NewClient(t, s.Addr, s.RootToken)
	if err := root.Sys().MountWithContext(ctx, "kv", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().WriteWithContext(ctx, "kv/k", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := root.Logical().ReadWithContext(ctx, "kv/k"); err != nil || got == nil || got.Data["v"] != "1" {
		t.Fatalf("after a restart: %v, %v; want the value written before", got, err)
	}
	if err := s.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().ReadWithContext(ctx, "kv/k"); err == nil {
		t.Fatal("read from a sealed server succeeded")
	}
	if err := s.Unseal(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := root.Logical().ReadWithContext(ctx, "kv/k"); err != nil || got == nil {
		t.Fatalf("after unseal: %v, %v", got, err)
	}
}
