package injector

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tradepulse/secret-injector/agent/config"
)

// Defaults for the zero values of Options.
const (
	// DefaultAgentUID is distroless "nonroot": the agent's own uid.
	DefaultAgentUID int64 = 65532
	// DefaultVaultAudience is the audience of the projected token the agent
	// presents to Vault's Kubernetes auth.
	DefaultVaultAudience = "vault"
	// DefaultVaultAuthPath is Vault's default Kubernetes auth mount.
	DefaultVaultAuthPath = "auth/kubernetes"
	// DefaultMinRefreshInterval is the shortest refresh interval a pod may
	// ask for: every poll is a backend call (and for a dynamic Vault secret
	// may be a new credential), so one pod must not poll hundreds of secrets
	// every second.
	DefaultMinRefreshInterval = 30 * time.Second
	// DefaultMaxSecrets caps the secrets of one pod. The runbook's largest
	// service has a dozen; each secret is a backend call per interval.
	DefaultMaxSecrets = 64
	// DefaultImagePullPolicy keeps a pinned agent image off the registry's
	// critical path at every pod start.
	DefaultImagePullPolicy = corev1.PullIfNotPresent
)

// DefaultVolumeSizeLimit caps the in-memory secrets volume. Secrets are
// small (a TLS bundle is a few KiB, a public CA bundle about 220 KiB), but
// the atomic writer holds the old and the new generation at once during a
// swap, and tmpfs pages count against the pod's memory. 4Mi fits a full CA
// bundle twice with room to spare, yet bounds what a runaway render can take
// from the app's memory; the kubelet sizes the tmpfs to it.
var DefaultVolumeSizeLimit = resource.MustParse("4Mi")

// DefaultResources are the agent containers' requests and limits, measured
// by `make bench`: the agent's RSS is about 25 MiB with 20 secrets, most
// of it shared binary pages (a working set of 5–7 MiB in a real pod), so
// 24Mi is requested and 64Mi bounds a leak. CPU is idle between
// refreshes (10m) and has no limit, so a refresh burst is never throttled.
func DefaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10m"),
			corev1.ResourceMemory: resource.MustParse("24Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
	}
}

// Options are the cluster's defaults and limits, from the Helm chart via the
// webhook's flags. A zero field takes the documented default.
type Options struct {
	// DefaultBackend is the backend of a pod without a backend annotation:
	// "gcp", "vault", "aws" or "env". Required.
	DefaultBackend string
	// EnabledBackends are the backends a pod may ask for; another is denied.
	// Empty means DefaultBackend alone.
	EnabledBackends []string
	// AgentImage is the default agent image. Required.
	AgentImage string
	// AllowedImages are the images a pod may pick with the agent-image
	// annotation: an exact image, or a prefix ending in "/" or ":". The
	// default image is always allowed.
	AllowedImages []string
	// ImagePullPolicy of the agent containers; empty means IfNotPresent.
	ImagePullPolicy corev1.PullPolicy
	// NativeSidecars (API server 1.29 or later) runs the sidecar as an init
	// container with restartPolicy Always, whose startup probe holds the app
	// until the first render and which ends with the pod (Jobs complete).
	NativeSidecars bool
	// Vault holds the Vault defaults and the addresses pods may pick.
	Vault VaultDefaults
	// GCPProject resolves short secret names for backend gcp.
	GCPProject string
	// AWSRegion is the Secrets Manager region for backend aws; empty leaves
	// it to the SDK's default chain.
	AWSRegion string
	// AWSAllowedRoleARNs are the roles a pod may assume with the
	// aws-role-arn annotation: exact ARNs or patterns where '*' matches
	// any run of characters within one ARN field (never a ':') and '?'
	// one, e.g. "arn:aws:iam::111122223333:role/tradepulse-*". Empty
	// allows none: a pod must not pick a role in another account unless
	// the cluster's operators agreed.
	AWSAllowedRoleARNs []string
	// GCPEndpoint and AWSEndpoint override the cloud APIs' endpoints (private
	// endpoints, test servers); only the cluster sets them, never a pod.
	GCPEndpoint string
	AWSEndpoint string
	// GCPInsecure talks plaintext gRPC without credentials to GCPEndpoint:
	// emulators and test beds only.
	GCPInsecure bool
	// AgentEnv is added to every agent container's environment: what the
	// platform, not the pod, provides (HTTPS_PROXY and NO_PROXY, an SDK
	// setting). Only the cluster sets it, never a pod; the agent's own
	// variables cannot be overridden.
	AgentEnv []corev1.EnvVar
	// RefreshInterval is the default poll interval; zero means the agent's
	// default (config.DefaultRefreshInterval).
	RefreshInterval time.Duration
	// MinRefreshInterval is the shortest refresh interval a pod may ask
	// for (pod-wide or per secret); zero means DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// MaxSecrets is the most secrets one pod may declare; zero means
	// DefaultMaxSecrets.
	MaxSecrets int
	// InitTimeout is how long the init container retries before failing
	// closed, and the startup probe's budget; zero means the agent's
	// default (config.DefaultInitTimeout). MaxInitTimeout bounds the
	// init-timeout annotation; zero means DefaultMaxInitTimeout.
	InitTimeout    time.Duration
	MaxInitTimeout time.Duration
	// Resources of the agent containers; empty means DefaultResources.
	Resources corev1.ResourceRequirements
	// VolumeSizeLimit of the secrets emptyDir; zero means
	// DefaultVolumeSizeLimit.
	VolumeSizeLimit resource.Quantity
	// AgentUID is the agent's own uid: it runs under it, in the app's
	// group, unless it must run as the app (signal reload, or an app whose
	// gid is unknown). It should be a uid no app container uses. Zero means
	// DefaultAgentUID.
	AgentUID int64
	// AllowHostNetwork would inject the sidecar into hostNetwork pods. Not
	// supported yet, so Validate refuses true: on the node's network the
	// agent's admin API (no credential) is reachable by every host-network
	// process, and two such agents on one node collide on their ports.
	// hostNetwork pods get mode init only (it opens no port).
	AllowHostNetwork bool
}

// reservedAgentEnv are the variables the injector itself gives the agent.
var reservedAgentEnv = map[string]bool{config.BackendEnvVar: true, config.EnvVar: true, "VAULT_ADDR": true, EnvPodName: true, EnvPodNamespace: true}

// VaultDefaults are the cluster's Vault settings.
type VaultDefaults struct {
	// Address is the default Vault server, e.g. "https://vault.vault.svc:8200".
	Address string
	// AllowedAddresses are the other servers a pod may pick with the
	// vault-address annotation (exact match).
	AllowedAddresses []string
	// AuthMethod is how agents log in by default: "kubernetes" (empty) or
	// "jwt". Both present the projected service-account token.
	AuthMethod string
	// AuthPath is the Kubernetes auth mount; empty means "auth/kubernetes".
	AuthPath string
	// JWTAuthPath is the JWT auth mount; empty means "auth/jwt".
	JWTAuthPath string
	// Role is the default auth role; empty makes the vault-role
	// annotation required.
	Role string
	// Audience of the projected service-account token; empty means "vault".
	// A jwt role's bound_audiences must hold it.
	Audience string
	// Namespace is the default Vault (Enterprise, HCP) namespace; empty is
	// the root namespace. AllowedNamespaces are the others a pod may pick
	// with the vault-namespace annotation (exact match).
	Namespace         string
	AllowedNamespaces []string
	// CABundle is the CA bundle that verifies Vault's TLS certificate,
	// mounted into the agent containers; nil trusts the agent image's
	// system roots.
	CABundle *VaultCABundle
	// RevokeOnShutdown is the default of the vault-revoke-on-shutdown
	// annotation: the sidecar revokes its leases when the pod stops.
	RevokeOnShutdown bool
}

// withDefaults fills the zero fields. It never mutates o's slices or maps.
func (o Options) withDefaults() Options {
	if len(o.EnabledBackends) == 0 && o.DefaultBackend != "" {
		o.EnabledBackends = []string{o.DefaultBackend}
	}
	o.ImagePullPolicy = cmp.Or(o.ImagePullPolicy, DefaultImagePullPolicy)
	o.Vault.AuthPath = cmp.Or(o.Vault.AuthPath, DefaultVaultAuthPath)
	o.Vault.Audience = cmp.Or(o.Vault.Audience, DefaultVaultAudience)
	o = o.vaultConnDefaults()
	o.RefreshInterval = cmp.Or(o.RefreshInterval, time.Duration(config.DefaultRefreshInterval))
	o.MinRefreshInterval = cmp.Or(o.MinRefreshInterval, DefaultMinRefreshInterval)
	o.MaxSecrets = cmp.Or(o.MaxSecrets, DefaultMaxSecrets)
	if len(o.Resources.Requests) == 0 && len(o.Resources.Limits) == 0 && len(o.Resources.Claims) == 0 {
		o.Resources = DefaultResources()
	}
	if o.VolumeSizeLimit.IsZero() {
		o.VolumeSizeLimit = DefaultVolumeSizeLimit
	}
	o.AgentUID = cmp.Or(o.AgentUID, DefaultAgentUID)
	return o
}

// checked validates o and fills its defaults: the options inject and parse
// take. Callers that serve many pods (Digester) call it once.
func (o Options) checked() (Options, error) {
	if err := o.Validate(); err != nil {
		return Options{}, err
	}
	return o.withDefaults(), nil
}

// Validate reports every problem with the options (after defaults), so that
// the webhook fails at start-up rather than at the first pod.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs optionProblems
	add := errs.add
	if !slices.Contains(config.Backends, o.DefaultBackend) {
		add("default backend %q is not one of %s", o.DefaultBackend, strings.Join(config.Backends, ", "))
	}
	for _, b := range o.EnabledBackends {
		if !slices.Contains(config.Backends, b) {
			add("enabled backend %q is not one of %s", b, strings.Join(config.Backends, ", "))
		}
	}
	if !slices.Contains(o.EnabledBackends, o.DefaultBackend) {
		add("default backend %q is not enabled", o.DefaultBackend)
	}
	if r := imageProblem(o.AgentImage); r != "" {
		add("agent image: %s", r)
	}
	for _, img := range o.AllowedImages {
		if r := imageProblem(img); r != "" {
			add("allowed image %q: %s", img, r)
		}
	}
	for _, e := range o.AgentEnv {
		switch {
		case !config.ValidEnvName(e.Name):
			add("agent env %q: not a valid environment variable name", e.Name)
		case reservedAgentEnv[e.Name]:
			add("agent env %s: set by the injector, cannot be overridden", e.Name)
		}
	}
	if o.AgentUID < 0 {
		add("agent uid %d: must be a non-root uid", o.AgentUID)
	}
	if o.AllowHostNetwork {
		add("allowing hostNetwork pods is not supported yet: their agent's admin API would need a credential and per-pod ports")
	}
	switch {
	case o.MinRefreshInterval < time.Duration(config.MinRefreshInterval):
		add("minimum refresh interval %s is below %s, the agent's minimum", o.MinRefreshInterval, config.MinRefreshInterval)
	case o.RefreshInterval < o.MinRefreshInterval:
		add("refresh interval %s is below the minimum refresh interval %s", o.RefreshInterval, o.MinRefreshInterval)
	}
	if o.MaxSecrets < 0 {
		add("max secrets per pod %d must be positive", o.MaxSecrets)
	}
	for _, name := range overLimit(o.Resources) {
		add("agent resources: the %s request is above its limit", name)
	}
	if o.VolumeSizeLimit.Sign() <= 0 {
		add("volume size limit %s must be positive", o.VolumeSizeLimit.String())
	}
	errs.optional("vault address", o.Vault.Address, vaultAddressProblem)
	for _, a := range o.Vault.AllowedAddresses {
		if r := vaultAddressProblem(a); r != "" {
			add("allowed vault address %q: %s", a, r)
		}
	}
	if r := vaultAuthPathProblem(o.Vault.AuthPath); r != "" {
		add("vault auth path: %s", r)
	}
	o.vaultConnProblems(&errs)
	errs.optional("vault role", o.Vault.Role, vaultRoleProblem)
	errs.optional("gcp project", o.GCPProject, gcpProjectProblem)
	errs.optional("aws region", o.AWSRegion, awsRegionProblem)
	for _, p := range o.AWSAllowedRoleARNs {
		if r := rolePatternProblem(p); r != "" {
			add("allowed aws role ARN %q: %s", p, r)
		}
	}
	if o.GCPInsecure && o.GCPEndpoint == "" {
		add("gcp insecure needs a gcp endpoint")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("injector options: %w", err)
	}
	return nil
}

// optionProblems collects what is wrong with Options, a line each.
type optionProblems []error

func (e *optionProblems) add(format string, args ...any) {
	*e = append(*e, fmt.Errorf(format, args...))
}

// optional adds "<what>: <problem>" when v is set (empty takes the
// default) and problem finds fault with it.
func (e *optionProblems) optional(what, v string, problem func(string) string) {
	if v == "" {
		return
	}
	if r := problem(v); r != "" {
		e.add("%s: %s", what, r)
	}
}
