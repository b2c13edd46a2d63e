package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestUnknownCommand(t *testing.T) {
	if code := program().Main(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}

func TestParseWebhookFlags(t *testing.T) {
	base := []string{"--namespace=secret-injector", "--service-name=si", "--webhook-config-name=si",
		"--default-backend=vault", "--enabled-backends=vault,gcp", "--agent-image=ghcr.io/tradepulse/secret-injector:v1",
		"--vault-address=https://vault.vault.svc:8200", "--agent-memory-limit=48Mi"}
	c, _, err := parseWebhookFlags(base, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Injector.Resources.Limits.Memory().String(); got != "48Mi" {
		t.Errorf("memory limit %s", got)
	}
	if len(c.Injector.EnabledBackends) != 2 || c.Injector.Vault.Address != "https://vault.vault.svc:8200" {
		t.Errorf("injector options %+v", c.Injector)
	}
	for _, tc := range []struct {
		name, flag, want string
	}{
		{"bad quantity", "--agent-cpu-request=lots", `--agent-cpu-request "lots"`},
		{"unknown backend", "--default-backend=azure", `default backend "azure"`},
		{"self-managed needs names", "--service-name=", "needs --namespace, --service-name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseWebhookFlags(append(append([]string{}, base...), tc.flag), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
