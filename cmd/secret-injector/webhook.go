package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/internal/cli"
	"github.com/tradepulse/secret-injector/webhook"
)

// webhookFlags are the webhook command's flags as given; config turns them
// into the webhook's config.
type webhookFlags struct {
	c        webhook.Config
	o        injector.Options
	log      cli.LogOptions
	bindAddr string
	port     int
	enabled  string
	allowed  string
	vaultOK  string
	// awsRoles, vaultNSOK and vaultCA are the allow-lists and the CA
	// bundle's source, as given.
	awsRoles  string
	vaultNSOK string
	vaultCA   injector.VaultCABundle
	pull      string
	refresh   time.Duration
	cpuReq    string
	memReq    string
	memLim    string
	volLimit  string
	inflight  string
	// set reports whether a flag was given (--port beside --bind-address).
	set func(name string) bool
}

// webhookSetup is the webhook command for the frame: its flags, then the
// run.
func webhookSetup(fs *pflag.FlagSet) cli.RunFunc {
	f := registerWebhookFlags(fs)
	return func(ctx context.Context, _ []string) error {
		c, err := f.config()
		if err != nil {
			return err
		}
		c.Logger = f.log.Logger(cli.Stderr(ctx))
		return webhook.Run(ctx, c)
	}
}

// parseWebhookFlags turns the flags the Helm chart renders into the
// webhook's config, as the frame parses them. Every problem is reported
// before anything starts.
func parseWebhookFlags(args []string, stderr io.Writer) (webhook.Config, cli.LogOptions, error) {
	fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	f := registerWebhookFlags(fs)
	if err := fs.Parse(args); err != nil {
		return webhook.Config{}, f.log, cli.Usage(err)
	}
	c, err := f.config()
	return c, f.log, err
}

// registerWebhookFlags declares the webhook's flags on fs.
func registerWebhookFlags(fs *pflag.FlagSet) *webhookFlags {
	f := &webhookFlags{set: func(name string) bool { return fs.Changed(name) }}
	c, o := &f.c, &f.o
	fs.StringVar(&f.bindAddr, "bind-address", fmt.Sprintf(":%d", webhook.DefaultPort), "host:port the HTTPS admission listener binds (host empty: every address)")
	fs.IntVar(&f.port, "port", webhook.DefaultPort, "HTTPS port of the admission listener on every address: --bind-address=:PORT (the chart's spelling)")
	fs.StringVar(&c.CertDir, "cert-dir", "/tls", "directory holding tls.crt and tls.key")
	fs.StringVar(&c.TLSMode, "tls-mode", webhook.TLSModeSelfManaged, "self-managed (own CA, caBundle patched, rotated) or file (cert-manager or a provided Secret, reloaded on change)")
	fs.StringVar(&c.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the webhook's namespace")
	fs.StringVar(&c.ServiceName, "service-name", "", "the webhook's Service (certificate names)")
	fs.StringVar(&c.WebhookConfigName, "webhook-config-name", "", "MutatingWebhookConfiguration whose caBundle self-managed mode keeps current")
	fs.StringVar(&c.SecretName, "tls-secret-name", "", "Secret holding the self-managed CA and certificate (default <service-name>-tls)")
	fs.StringVar(&c.ProbeAddr, "probe-addr", webhook.DefaultProbeAddr, "/healthz and /readyz listen address")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", webhook.DefaultMetricsAddr, "/metrics listen address")
	fs.StringVar(&c.NativeSidecars, "native-sidecars", webhook.NativeSidecarsAuto, "auto (from the API server's version), true or false")
	fs.StringVar(&o.DefaultBackend, "default-backend", "", "backend of pods without a backend annotation: gcp, vault, aws or env (the runbook's SECRET_BACKEND)")
	fs.StringVar(&f.enabled, "enabled-backends", "", "comma list of backends pods may ask for (default: the default backend)")
	fs.StringVar(&o.AgentImage, "agent-image", "", "agent image injected into pods")
	fs.StringVar(&f.allowed, "allowed-images", "", "comma list of images (or prefixes ending in / or :) pods may pick")
	fs.StringVar(&f.pull, "image-pull-policy", string(injector.DefaultImagePullPolicy), "agent image pull policy")
	fs.StringVar(&o.Vault.Address, "vault-address", "", "default Vault address")
	fs.StringVar(&f.vaultOK, "vault-allowed-addresses", "", "comma list of other Vault addresses pods may pick")
	fs.StringVar(&o.Vault.AuthPath, "vault-auth-path", injector.DefaultVaultAuthPath, "Vault Kubernetes auth mount")
	fs.StringVar(&o.Vault.Role, "vault-role", "", "default Vault role")
	fs.StringVar(&o.Vault.Audience, "vault-audience", injector.DefaultVaultAudience, "audience of the projected token presented to Vault")
	fs.StringVar(&o.Vault.AuthMethod, "vault-auth-method", injector.VaultAuthKubernetes, "how agents log in to Vault by default: kubernetes or jwt (pods pick with the vault-auth-method annotation)")
	fs.StringVar(&o.Vault.JWTAuthPath, "vault-jwt-auth-path", injector.DefaultVaultJWTAuthPath, "Vault JWT auth mount")
	fs.StringVar(&o.Vault.Namespace, "vault-namespace", "", "default Vault namespace (Enterprise, HCP); empty is the root namespace")
	fs.StringVar(&f.vaultNSOK, "vault-allowed-namespaces", "", "comma list of other Vault namespaces pods may pick")
	fs.StringVar(&f.vaultCA.ConfigMap, "vault-ca-configmap", "", "ConfigMap, in each pod's namespace, holding the CA bundle of Vault's TLS certificate")
	fs.StringVar(&f.vaultCA.Secret, "vault-ca-secret", "", "Secret, in each pod's namespace, holding the CA bundle of Vault's TLS certificate")
	fs.StringVar(&f.vaultCA.Key, "vault-ca-key", injector.DefaultVaultCAKey, "key of the CA bundle in --vault-ca-configmap or --vault-ca-secret")
	fs.BoolVar(&o.Vault.RevokeOnShutdown, "vault-revoke-on-shutdown", false, "agents revoke their Vault leases when the pod stops, unless a pod says otherwise")
	fs.DurationVar(&o.InitTimeout, "init-timeout", time.Duration(config.DefaultInitTimeout), "how long the agent waits for the secrets before failing closed")
	fs.DurationVar(&o.MaxInitTimeout, "max-init-timeout", injector.DefaultMaxInitTimeout, "longest init timeout a pod may ask for; longer is denied")
	fs.StringVar(&o.GCPProject, "gcp-project", "", "GCP project resolving short secret names")
	fs.StringVar(&o.AWSRegion, "aws-region", "", "AWS region of Secrets Manager")
	fs.StringVar(&o.GCPEndpoint, "gcp-endpoint", "", "Secret Manager endpoint override (private endpoint, test bed)")
	fs.BoolVar(&o.GCPInsecure, "gcp-insecure", false, "plaintext gRPC without credentials to --gcp-endpoint (test beds only)")
	fs.StringVar(&o.AWSEndpoint, "aws-endpoint", "", "Secrets Manager endpoint override (VPC endpoint, test bed)")
	fs.StringVar(&f.awsRoles, "aws-allowed-role-arns", "", "comma list of IAM role ARNs, or patterns ('*' within one ARN field, '?'), pods may assume with aws-role-arn")
	fs.Func("agent-env", "NAME=VALUE added to every agent container's environment (proxies, SDK settings); repeat it", func(kv string) error {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%q: want NAME=VALUE", kv)
		}
		o.AgentEnv = append(o.AgentEnv, corev1.EnvVar{Name: name, Value: value})
		return nil
	})
	fs.DurationVar(&f.refresh, "refresh-interval", time.Duration(config.DefaultRefreshInterval), "agents' default refresh interval")
	fs.DurationVar(&o.MinRefreshInterval, "min-refresh-interval", injector.DefaultMinRefreshInterval, "shortest refresh interval a pod may ask for; shorter is denied")
	fs.IntVar(&o.MaxSecrets, "max-secrets-per-pod", injector.DefaultMaxSecrets, "most secrets one pod may declare; more is denied")
	res := injector.DefaultResources()
	fs.StringVar(&f.cpuReq, "agent-cpu-request", res.Requests.Cpu().String(), "agent CPU request")
	fs.StringVar(&f.memReq, "agent-memory-request", res.Requests.Memory().String(), "agent memory request")
	fs.StringVar(&f.memLim, "agent-memory-limit", res.Limits.Memory().String(), "agent memory limit")
	fs.StringVar(&f.volLimit, "volume-size-limit", injector.DefaultVolumeSizeLimit.String(), "sizeLimit of the in-memory secrets volume")
	fs.Int64Var(&o.AgentUID, "agent-uid", injector.DefaultAgentUID, "the agent's own uid (it runs under it in the app's group, except with signal reload); a uid no app uses")
	fs.BoolVar(&o.AllowHostNetwork, "allow-host-network", false, "inject the agent sidecar into hostNetwork pods (not supported yet: true is refused; hostNetwork pods may use mode init)")
	fs.DurationVar(&c.Limits.AdmissionTimeout, "admission-timeout", webhook.DefaultAdmissionTimeout, "the webhook configuration's timeoutSeconds: no request is read or answered for longer")
	fs.IntVar(&c.Limits.MaxConnections, "max-connections", webhook.DefaultMaxConnections, "open connections to the admission port; more wait in the kernel's queue")
	fs.IntVar(&c.Limits.MaxConcurrent, "max-concurrent-admissions", webhook.DefaultMaxConcurrent, "admissions decoded and mutated at once; a request that finds no slot in half the admission timeout is answered 429")
	fs.StringVar(&f.inflight, "max-inflight-bytes", resource.NewQuantity(webhook.DefaultMaxInflightBytes, resource.BinarySI).String(), "request bytes held at once across requests (at least the 4Mi request limit); a request that finds no room in half the admission timeout is answered 429")
	f.log.AddFlags(fs, "json")
	return f
}

// config checks the flags together and builds the webhook's config; every
// problem is a usage error, all named at once.
func (f *webhookFlags) config() (webhook.Config, error) {
	c, o := f.c, f.o
	var errs []string
	switch {
	case f.set("bind-address") && f.set("port"):
		errs = append(errs, "give --bind-address or --port, not both")
	case f.set("port"):
		c.Host, c.Port = "", f.port
	default:
		host, port, err := net.SplitHostPort(f.bindAddr)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Sprintf("--bind-address %q: want host:port with a port from 1 to 65535", f.bindAddr))
		}
		c.Host, c.Port = host, n
	}
	quantity := func(flag, v string) resource.Quantity {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("--%s %q: %v", flag, v, err))
		}
		return q
	}
	o.EnabledBackends = splitList(f.enabled)
	o.AllowedImages = splitList(f.allowed)
	o.Vault.AllowedAddresses = splitList(f.vaultOK)
	o.AWSAllowedRoleARNs = splitList(f.awsRoles)
	o.Vault.AllowedNamespaces = splitList(f.vaultNSOK)
	if f.vaultCA.ConfigMap != "" || f.vaultCA.Secret != "" {
		ca := f.vaultCA
		o.Vault.CABundle = &ca
	}
	o.ImagePullPolicy = corev1.PullPolicy(f.pull)
	o.RefreshInterval = f.refresh
	o.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: quantity("agent-cpu-request", f.cpuReq), corev1.ResourceMemory: quantity("agent-memory-request", f.memReq)},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: quantity("agent-memory-limit", f.memLim)},
	}
	o.VolumeSizeLimit = quantity("volume-size-limit", f.volLimit)
	inflightQ := quantity("max-inflight-bytes", f.inflight)
	c.Limits.MaxInflightBytes = inflightQ.Value()
	if len(errs) == 0 {
		if err := o.Validate(); err != nil {
			errs = append(errs, err.Error())
		}
		if err := c.Limits.Validate(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if c.TLSMode == webhook.TLSModeSelfManaged && (c.ServiceName == "" || c.Namespace == "" || c.WebhookConfigName == "") {
		errs = append(errs, "--tls-mode self-managed needs --namespace, --service-name and --webhook-config-name")
	}
	if len(errs) > 0 {
		return c, cli.Usage(fmt.Errorf("invalid flags:\n  %s", strings.Join(errs, "\n  ")))
	}
	c.Injector = o
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
