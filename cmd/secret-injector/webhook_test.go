package main

import (
	"io"
	"strings"
	"testing"
)

// webhookBase is a valid webhook command line every case below extends.
func webhookBase() []string {
	return []string{"--namespace=secret-injector", "--service-name=si", "--webhook-config-name=si",
		"--default-backend=gcp", "--agent-image=ghcr.io/tradepulse/secret-injector:v1"}
}

// TestWebhookFlagsRefuse: flags the chart renders that name a setting the
// webhook cannot honour fail at start, with the flag's meaning in the error.
func TestWebhookFlagsRefuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"host network is not supported yet", []string{"--allow-host-network=true"}, "allowing hostNetwork pods is not supported yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseWebhookFlags(append(webhookBase(), tc.args...), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestWebhookFlagsAccept: what each flag sets.
func TestWebhookFlagsAccept(t *testing.T) {
	c, _, err := parseWebhookFlags(append(webhookBase(), "--allow-host-network=false"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Injector.AllowHostNetwork {
		t.Error("AllowHostNetwork = true")
	}
}
