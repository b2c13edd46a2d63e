package main

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/internal/cli"
	"github.com/tradepulse/secret-injector/webhook"
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
		{"default interval below the minimum", []string{"--refresh-interval=10s"}, "refresh interval 10s is below the minimum refresh interval 30s"},
		{"minimum below 1s", []string{"--min-refresh-interval=0.5s"}, "minimum refresh interval 500ms is below 1s"},
		{"admission timeout beyond the API server's 30s", []string{"--admission-timeout=45s"}, "admission timeout 45s: the webhook configuration's timeoutSeconds is 1s to 30s"},
		{"negative connections", []string{"--max-connections=-1"}, "max connections -1 must be positive"},
		{"in-flight bytes below one request", []string{"--max-inflight-bytes=1Mi"}, "max in-flight bytes 1048576 is below max request bytes 4194304"},
		{"in-flight bytes not a quantity", []string{"--max-inflight-bytes=lots"}, `--max-inflight-bytes "lots"`},
		{"negative agent uid", []string{"--agent-uid=-1"}, "agent uid -1: must be a non-root uid"},
		{"negative secrets cap", []string{"--max-secrets-per-pod=-1"}, "max secrets per pod -1 must be positive"},
		{"agent env without a value", []string{"--agent-env=HTTPS_PROXY"}, `"HTTPS_PROXY": want NAME=VALUE`},
		{"agent env overriding the config", []string{"--agent-env=SECRET_INJECTOR_CONFIG={}"}, "agent env SECRET_INJECTOR_CONFIG: set by the injector"},
		{"agent env with a bad name", []string{"--agent-env=1X=y"}, `agent env "1X": not a valid environment variable name`},
		{"agent env naming the pod", []string{"--agent-env=SECRET_INJECTOR_POD_NAME=x"}, "agent env SECRET_INJECTOR_POD_NAME: set by the injector"},
		{"allowed role that is no ARN", []string{"--aws-allowed-role-arns=arn:aws:iam::111122223333:role/a,role/b"}, `allowed aws role ARN "role/b": must be a role ARN or a pattern`},
		{"bind address without a port", []string{"--bind-address=127.0.0.1"}, `--bind-address "127.0.0.1": want host:port`},
		{"bind address with a bad port", []string{"--bind-address=:99999"}, `--bind-address ":99999": want host:port with a port from 1 to 65535`},
		{"bind address and port", []string{"--bind-address=:9443", "--port=9443"}, "give --bind-address or --port, not both"},
		{"log level", []string{"--log-level=verbose"}, `invalid argument "verbose" for "--log-level" flag: want debug, info, warn or error`},
		{"single-dash long flag", []string{"-port=9443"}, "unknown shorthand flag: 'p' in -port=9443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseWebhookFlags(append(webhookBase(), tc.args...), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if !errors.Is(err, cli.ErrUsage) {
				t.Errorf("err = %v, want a usage error (exit 2)", err)
			}
		})
	}
}

// TestWebhookFlagsAWSRoles: the allow-list reaches the injector as a
// list.
func TestWebhookFlagsAWSRoles(t *testing.T) {
	c, _, err := parseWebhookFlags(append(webhookBase(), "--aws-allowed-role-arns=arn:aws:iam::111122223333:role/tradepulse-*,arn:aws:iam::*:role/reader"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"arn:aws:iam::111122223333:role/tradepulse-*", "arn:aws:iam::*:role/reader"}; !reflect.DeepEqual(c.Injector.AWSAllowedRoleARNs, want) {
		t.Errorf("AWSAllowedRoleARNs = %q, want %q", c.Injector.AWSAllowedRoleARNs, want)
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
	if c.Injector.MinRefreshInterval != injector.DefaultMinRefreshInterval || c.Injector.MaxSecrets != injector.DefaultMaxSecrets {
		t.Errorf("limits %s, %d; want the injector's defaults", c.Injector.MinRefreshInterval, c.Injector.MaxSecrets)
	}
	if c.Limits.AdmissionTimeout != webhook.DefaultAdmissionTimeout || c.Limits.MaxConnections != webhook.DefaultMaxConnections ||
		c.Limits.MaxConcurrent != webhook.DefaultMaxConcurrent || c.Limits.MaxInflightBytes != webhook.DefaultMaxInflightBytes {
		t.Errorf("limits %+v, want the webhook's defaults", c.Limits)
	}
	if c.Injector.AgentUID != injector.DefaultAgentUID {
		t.Errorf("agent uid %d, want %d", c.Injector.AgentUID, injector.DefaultAgentUID)
	}
	if c.Host != "" || c.Port != webhook.DefaultPort {
		t.Errorf("admission listener %s:%d, want :%d", c.Host, c.Port, webhook.DefaultPort)
	}
	for _, tc := range []struct {
		args []string
		host string
		port int
		log  cli.LogOptions
	}{
		{[]string{"--port=8443"}, "", 8443, cli.LogOptions{Level: "info", Format: "json"}},
		{[]string{"--bind-address=127.0.0.1:10250", "--log-level=debug", "--log-format=text"}, "127.0.0.1", 10250, cli.LogOptions{Level: "debug", Format: "text"}},
		{[]string{"--bind-address", "[::1]:9443"}, "::1", 9443, cli.LogOptions{Level: "info", Format: "json"}},
	} {
		c, log, err := parseWebhookFlags(append(webhookBase(), tc.args...), io.Discard)
		if err != nil || c.Host != tc.host || c.Port != tc.port || log != tc.log {
			t.Errorf("%q: listener %q:%d, logs %+v, %v; want %q:%d, %+v", tc.args, c.Host, c.Port, log, err, tc.host, tc.port, tc.log)
		}
	}
	c, _, err = parseWebhookFlags(append(webhookBase(), "--min-refresh-interval=1s", "--refresh-interval=2s", "--max-secrets-per-pod=8", "--agent-uid=70000",
		"--admission-timeout=10s", "--max-connections=64", "--max-concurrent-admissions=2", "--max-inflight-bytes=16Mi"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := (webhook.Limits{AdmissionTimeout: 10 * time.Second, MaxConnections: 64, MaxConcurrent: 2, MaxInflightBytes: 16 << 20}); c.Limits != want {
		t.Errorf("limits %+v, want %+v", c.Limits, want)
	}
	if c.Injector.AgentUID != 70000 {
		t.Errorf("agent uid %d, want 70000", c.Injector.AgentUID)
	}
	if c.Injector.MinRefreshInterval != time.Second || c.Injector.MaxSecrets != 8 {
		t.Errorf("limits %s, %d; want 1s, 8", c.Injector.MinRefreshInterval, c.Injector.MaxSecrets)
	}
	c, _, err = parseWebhookFlags(append(webhookBase(), "--agent-env=HTTPS_PROXY=http://proxy:3128", "--agent-env=NO_PROXY=.svc,10.0.0.0/8"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.EnvVar{{Name: "HTTPS_PROXY", Value: "http://proxy:3128"}, {Name: "NO_PROXY", Value: ".svc,10.0.0.0/8"}}
	if !reflect.DeepEqual(c.Injector.AgentEnv, want) {
		t.Errorf("agent env %v, want %v", c.Injector.AgentEnv, want)
	}
}

// TestWebhookFlagsVaultConnection: the chart's Vault connection and init
// timeout flags reach the injector's options, and a setting it cannot
// honour fails at start.
func TestWebhookFlagsVaultConnection(t *testing.T) {
	c, _, err := parseWebhookFlags(webhookBase(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v := c.Injector.Vault
	if v.AuthMethod != injector.VaultAuthKubernetes || v.JWTAuthPath != injector.DefaultVaultJWTAuthPath || v.CABundle != nil ||
		v.Namespace != "" || v.AllowedNamespaces != nil || v.RevokeOnShutdown {
		t.Errorf("vault defaults %+v", v)
	}
	if c.Injector.InitTimeout != 2*time.Minute || c.Injector.MaxInitTimeout != injector.DefaultMaxInitTimeout {
		t.Errorf("init timeout %s, max %s; want 2m0s, %s", c.Injector.InitTimeout, c.Injector.MaxInitTimeout, injector.DefaultMaxInitTimeout)
	}

	c, _, err = parseWebhookFlags(append(webhookBase(), "--vault-auth-method=jwt", "--vault-jwt-auth-path=auth/k8s-oidc",
		"--vault-namespace=trading", "--vault-allowed-namespaces=trading/prod, research", "--vault-ca-configmap=vault-ca",
		"--vault-ca-key=bundle.pem", "--vault-revoke-on-shutdown=true", "--init-timeout=5m", "--max-init-timeout=15m"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := injector.VaultDefaults{AuthPath: injector.DefaultVaultAuthPath, Audience: injector.DefaultVaultAudience,
		AuthMethod: "jwt", JWTAuthPath: "auth/k8s-oidc", Namespace: "trading", AllowedNamespaces: []string{"trading/prod", "research"},
		CABundle: &injector.VaultCABundle{ConfigMap: "vault-ca", Key: "bundle.pem"}, RevokeOnShutdown: true}
	if !reflect.DeepEqual(c.Injector.Vault, want) {
		t.Errorf("vault options\n%+v\nwant\n%+v", c.Injector.Vault, want)
	}
	if c.Injector.InitTimeout != 5*time.Minute || c.Injector.MaxInitTimeout != 15*time.Minute {
		t.Errorf("init timeout %s, max %s; want 5m0s, 15m0s", c.Injector.InitTimeout, c.Injector.MaxInitTimeout)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown auth method", []string{"--vault-auth-method=oidc"}, `vault auth method "oidc" is not one of kubernetes, jwt`},
		{"CA in a ConfigMap and a Secret", []string{"--vault-ca-configmap=a", "--vault-ca-secret=b"}, "vault CA bundle: name a ConfigMap or a Secret, not both or neither"},
		{"bad namespace", []string{"--vault-allowed-namespaces=a b"}, `allowed vault namespace: "a b" must be a Vault namespace path`},
		{"init timeout over the maximum", []string{"--init-timeout=20m"}, "init timeout 20m0s must be from 10s to the maximum init timeout 10m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseWebhookFlags(append(webhookBase(), tc.args...), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
