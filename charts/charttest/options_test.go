package charttest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/webhook"
)

// webhookArgs returns the webhook container's --name=value flags from a
// render, and its subcommand.
func webhookArgs(t *testing.T, objs []*unstructured.Unstructured) (string, map[string]string) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		if len(cs) != 1 {
			t.Fatalf("Deployment has %d containers, want 1", len(cs))
		}
		args, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "args")
		if len(args) == 0 {
			t.Fatal("webhook container has no args")
		}
		flags := map[string]string{}
		for _, a := range args[1:] {
			k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if !ok || !strings.HasPrefix(a, "--") {
				t.Fatalf("arg %q is not --name=value", a)
			}
			if _, dup := flags[k]; dup {
				t.Fatalf("flag --%s given twice", k)
			}
			flags[k] = v
		}
		return args[0], flags
	}
	t.Fatal("render has no Deployment")
	return "", nil
}

// optionsFromFlags reads the flags the way the webhook is meant to: a comma
// list per list flag, Go durations, Kubernetes quantities.
func optionsFromFlags(t *testing.T, f map[string]string) injector.Options {
	t.Helper()
	list := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	interval, err := time.ParseDuration(f["refresh-interval"])
	if err != nil {
		t.Fatalf("--refresh-interval: %v", err)
	}
	minInterval, err := time.ParseDuration(f["min-refresh-interval"])
	if err != nil {
		t.Fatalf("--min-refresh-interval: %v", err)
	}
	agentUID, err := strconv.ParseInt(f["agent-uid"], 10, 64)
	if err != nil {
		t.Fatalf("--agent-uid: %v", err)
	}
	initTimeout, err := time.ParseDuration(f["init-timeout"])
	if err != nil {
		t.Fatalf("--init-timeout: %v", err)
	}
	maxInitTimeout, err := time.ParseDuration(f["max-init-timeout"])
	if err != nil {
		t.Fatalf("--max-init-timeout: %v", err)
	}
	var caBundle *injector.VaultCABundle
	if f["vault-ca-configmap"] != "" || f["vault-ca-secret"] != "" {
		caBundle = &injector.VaultCABundle{ConfigMap: f["vault-ca-configmap"], Secret: f["vault-ca-secret"], Key: f["vault-ca-key"]}
	}
	maxSecrets, err := strconv.Atoi(f["max-secrets-per-pod"])
	if err != nil {
		t.Fatalf("--max-secrets-per-pod: %v", err)
	}
	qty := func(name string) resource.Quantity {
		q, err := resource.ParseQuantity(f[name])
		if err != nil {
			t.Fatalf("--%s: %v", name, err)
		}
		return q
	}
	return injector.Options{
		DefaultBackend:  f["default-backend"],
		EnabledBackends: list(f["enabled-backends"]),
		AgentImage:      f["agent-image"],
		AllowedImages:   list(f["allowed-images"]),
		ImagePullPolicy: corev1.PullPolicy(f["image-pull-policy"]),
		NativeSidecars:  f["native-sidecars"] == "true",
		Vault: injector.VaultDefaults{
			Address:           f["vault-address"],
			AllowedAddresses:  list(f["vault-allowed-addresses"]),
			AuthPath:          f["vault-auth-path"],
			Role:              f["vault-role"],
			Audience:          f["vault-audience"],
			AuthMethod:        f["vault-auth-method"],
			JWTAuthPath:       f["vault-jwt-auth-path"],
			Namespace:         f["vault-namespace"],
			AllowedNamespaces: list(f["vault-allowed-namespaces"]),
			CABundle:          caBundle,
			RevokeOnShutdown:  f["vault-revoke-on-shutdown"] == "true",
		},
		GCPProject:         f["gcp-project"],
		AWSRegion:          f["aws-region"],
		AWSAllowedRoleARNs: list(f["aws-allowed-role-arns"]),
		RefreshInterval:    interval,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: qty("agent-cpu-request"), corev1.ResourceMemory: qty("agent-memory-request")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: qty("agent-memory-limit")},
		},
		VolumeSizeLimit:    qty("volume-size-limit"),
		AllowHostNetwork:   f["allow-host-network"] == "true",
		MinRefreshInterval: minInterval,
		MaxSecrets:         maxSecrets,
		InitTimeout:        initTimeout,
		MaxInitTimeout:     maxInitTimeout,
		AgentUID:           agentUID,
	}
}

// TestWebhookFlags: every case starts the webhook with the flags of the
// binary's contract, and the cluster defaults they carry are ones the
// injector accepts (the webhook refuses to start otherwise).
func TestWebhookFlags(t *testing.T) {
	helm := helmBinary(t)
	always := []string{"port", "cert-dir", "tls-mode", "namespace", "service-name", "webhook-config-name",
		"tls-secret-name", "probe-addr", "metrics-addr", "default-backend", "enabled-backends",
		"agent-image", "image-pull-policy", "native-sidecars", "vault-auth-path", "vault-audience",
		"refresh-interval", "agent-cpu-request", "agent-memory-request", "agent-memory-limit", "volume-size-limit",
		"allow-host-network", "min-refresh-interval", "max-secrets-per-pod", "agent-uid",
		"admission-timeout", "max-connections", "max-concurrent-admissions", "max-inflight-bytes", "log-format",
		"vault-auth-method", "vault-jwt-auth-path", "vault-ca-key", "vault-revoke-on-shutdown", "init-timeout", "max-init-timeout", "log-level"}
	optional := []string{"allowed-images", "vault-address", "vault-allowed-addresses", "vault-role", "gcp-project", "aws-region", "gcp-endpoint", "aws-endpoint",
		"vault-namespace", "vault-allowed-namespaces", "vault-ca-configmap", "vault-ca-secret", "aws-allowed-role-arns"}
	for _, rc := range renderCases(t) {
		t.Run(rc.name, func(t *testing.T) {
			objs, err := Render(helm, rc.values, testNamespace)
			if err != nil {
				t.Fatal(err)
			}
			cmd, flags := webhookArgs(t, objs)
			if cmd != "webhook" {
				t.Errorf("subcommand %q, want webhook", cmd)
			}
			for _, k := range always {
				if flags[k] == "" {
					t.Errorf("--%s missing", k)
				}
			}
			for k := range flags {
				if !slices.Contains(always, k) && !slices.Contains(optional, k) {
					t.Errorf("--%s is not in the binary's contract", k)
				}
			}
			for k, want := range map[string]string{
				"cert-dir": "/tls", "namespace": testNamespace, "service-name": ReleaseName, "webhook-config-name": ReleaseName,
			} {
				if flags[k] != want {
					t.Errorf("--%s=%s, want %s", k, flags[k], want)
				}
			}
			if err := optionsFromFlags(t, flags).Validate(); err != nil {
				t.Errorf("the injector rejects the chart's defaults: %v", err)
			}
			if err := limitsFromFlags(t, flags).Validate(); err != nil {
				t.Errorf("the webhook rejects the chart's limits: %v", err)
			}
			// The server's deadlines derive from the API server's.
			timeout, _, _ := unstructured.NestedInt64(rc.values, "webhook", "timeoutSeconds")
			if timeout == 0 {
				timeout = 5
			}
			if want := fmt.Sprintf("%ds", timeout); flags["admission-timeout"] != want {
				t.Errorf("--admission-timeout=%s, want %s (webhook.timeoutSeconds)", flags["admission-timeout"], want)
			}
		})
	}
}

// limitsFromFlags reads the admission port's limits the way the webhook
// does.
func limitsFromFlags(t *testing.T, f map[string]string) webhook.Limits {
	t.Helper()
	timeout, err := time.ParseDuration(f["admission-timeout"])
	if err != nil {
		t.Fatalf("--admission-timeout: %v", err)
	}
	conns, err := strconv.Atoi(f["max-connections"])
	if err != nil {
		t.Fatalf("--max-connections: %v", err)
	}
	concurrent, err := strconv.Atoi(f["max-concurrent-admissions"])
	if err != nil {
		t.Fatalf("--max-concurrent-admissions: %v", err)
	}
	inflight, err := resource.ParseQuantity(f["max-inflight-bytes"])
	if err != nil {
		t.Fatalf("--max-inflight-bytes: %v", err)
	}
	return webhook.Limits{AdmissionTimeout: timeout, MaxConnections: conns, MaxConcurrent: concurrent, MaxInflightBytes: inflight.Value()}
}

// TestChartDefaultsAreTheBinarys: the defaults values.yaml writes into the
// webhook's flags (the chart must render them: the webhook's args are the
// contract) are the constants the binary and the agent default to, so that
// a default stated in two places cannot drift.
func TestChartDefaultsAreTheBinarys(t *testing.T) {
	objs, err := Render(helmBinary(t), map[string]any{}, testNamespace)
	if err != nil {
		t.Fatal(err)
	}
	_, flags := webhookArgs(t, objs)
	o := optionsFromFlags(t, flags)
	res := injector.DefaultResources()
	for _, c := range []struct {
		flag      string
		got, want any
	}{
		{"refresh-interval", o.RefreshInterval, time.Duration(config.DefaultRefreshInterval)},
		{"min-refresh-interval", o.MinRefreshInterval, injector.DefaultMinRefreshInterval},
		{"max-secrets-per-pod", o.MaxSecrets, injector.DefaultMaxSecrets},
		{"init-timeout", o.InitTimeout, time.Duration(config.DefaultInitTimeout)},
		{"max-init-timeout", o.MaxInitTimeout, injector.DefaultMaxInitTimeout},
		{"agent-cpu-request", o.Resources.Requests.Cpu().String(), res.Requests.Cpu().String()},
		{"agent-memory-request", o.Resources.Requests.Memory().String(), res.Requests.Memory().String()},
		{"agent-memory-limit", o.Resources.Limits.Memory().String(), res.Limits.Memory().String()},
		{"volume-size-limit", o.VolumeSizeLimit.String(), injector.DefaultVolumeSizeLimit.String()},
	} {
		if c.got != c.want {
			t.Errorf("values.yaml renders --%s=%s (%v), but the binary's default is %v", c.flag, flags[c.flag], c.got, c.want)
		}
	}
}
