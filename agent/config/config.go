// Package config is the one contract between the injector and the agent: the
// agent's configuration, versioned, standard library only.
//
// The injector serialises a Config into the agent container's environment
// (EnvVar); the agent also reads it from a JSON or YAML file for local use.
// It holds references to secrets, never their values: it is visible to anyone
// who can read the pod spec.
package config

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// APIVersion is the schema version this build writes and understands.
const APIVersion = "secrets.tradepulse.io/v1"

// EnvVar is the environment variable through which the injector hands the
// serialised Config to the agent container.
const EnvVar = "SECRET_INJECTOR_CONFIG"

// BackendEnvVar picks the backend when the config does not (the runbook's
// per-environment switch). Unset means the local .env default.
const BackendEnvVar = "SECRET_BACKEND"

// The agent's pod, from the downward API: the injector sets them where
// the agent needs to name itself to a backend (the STS session name of an
// assumed AWS role). At admission a pod often has no name yet, so the
// config cannot carry it.
const (
	PodNameEnvVar      = "SECRET_INJECTOR_POD_NAME"
	PodNamespaceEnvVar = "SECRET_INJECTOR_POD_NAMESPACE"
)

// Backend names.
const (
	BackendEnv   = "env"
	BackendVault = "vault"
	BackendGCP   = "gcp"
	BackendAWS   = "aws"
)

// Backends lists every backend name the agent knows, in documentation order.
var Backends = []string{BackendGCP, BackendVault, BackendAWS, BackendEnv}

// Formats of a rendered secret.
const (
	// FormatRaw writes the secret's bytes unchanged to one file.
	FormatRaw = "raw"
	// FormatJSON splits a JSON object into one file per field, under a
	// directory named after the secret.
	FormatJSON = "json"
	// FormatEnv renders a JSON object as a KEY=value file.
	FormatEnv = "env"
	// FormatTemplate renders a Go text/template.
	FormatTemplate = "template"
)

// Formats lists every format, in documentation order.
var Formats = []string{FormatRaw, FormatJSON, FormatEnv, FormatTemplate}

// Defaults applied by Normalize where a field is empty.
const (
	DefaultMountPath       = "/secrets"
	DefaultFileMode        = FileMode(0o400)
	DefaultRefreshInterval = Duration(5 * time.Minute)
	DefaultInitTimeout     = Duration(2 * time.Minute)
	DefaultAdminAddr       = "127.0.0.1:9101"
	DefaultMetricsAddr     = ":9102"
	DefaultDebounce        = Duration(2 * time.Second)
)

// Config is the whole agent configuration.
type Config struct {
	// Version must be APIVersion.
	Version string `json:"version"`
	// Backend says where secrets come from and how to authenticate.
	Backend Backend `json:"backend"`
	// MountPath is the directory the agent writes into (the shared volume).
	MountPath string `json:"mountPath,omitempty"`
	// RefreshInterval is how often a versioned backend is polled; each
	// secret may override it.
	RefreshInterval Duration `json:"refreshInterval,omitempty"`
	// InitTimeout bounds how long init mode retries before failing closed.
	InitTimeout Duration `json:"initTimeout,omitempty"`
	// Owner is the default owner of written files; nil keeps the agent's own.
	Owner *Owner `json:"owner,omitempty"`
	// Secrets lists what to fetch and how to render it.
	Secrets []Secret `json:"secrets"`
	// Notify says how the app learns that its files changed.
	Notify Notify `json:"notify,omitempty"`
	// AdminAddr is the admin endpoint's listen address (loopback by default).
	AdminAddr string `json:"adminAddr,omitempty"`
	// MetricsAddr is the Prometheus endpoint's listen address.
	MetricsAddr string `json:"metricsAddr,omitempty"`
}

// Backend selects and configures one backend. Only the block of the chosen
// type is read.
type Backend struct {
	// Type is one of Backends; empty means SECRET_BACKEND, then "env".
	Type  string        `json:"type,omitempty"`
	Env   *EnvBackend   `json:"env,omitempty"`
	Vault *VaultBackend `json:"vault,omitempty"`
	GCP   *GCPBackend   `json:"gcp,omitempty"`
	AWS   *AWSBackend   `json:"aws,omitempty"`
}

// EnvBackend reads KEY=value files, the local-development default.
type EnvBackend struct {
	// Files are read in order; a later file overrides an earlier one.
	// Empty means ".env".
	Files []string `json:"files,omitempty"`
}

// VaultBackend talks to HashiCorp Vault. The Vault backend takes it as it
// is (agent/backend/vault.New); empty fields fall back to the standard
// VAULT_* environment variables (VAULT_ADDR, VAULT_NAMESPACE, VAULT_CACERT,
// VAULT_TOKEN, …). RevokeGrace and RevokeOnShutdown are read by the agent,
// which revokes the leases.
type VaultBackend struct {
	Address   string `json:"address,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// CACert is a path to a PEM bundle for Vault's TLS certificate.
	CACert string `json:"caCert,omitempty"`
	// Auth is "kubernetes", "jwt", "approle" or "token". kubernetes and
	// jwt both present the service-account token at TokenPath. Empty means
	// kubernetes when Role is set, approle when RoleIDPath is, else token.
	Auth string `json:"auth,omitempty"`
	// AuthPath is the auth method's mount path, e.g. "auth/kubernetes"
	// (default "auth/<Auth>").
	AuthPath string `json:"authPath,omitempty"`
	// Role is the Kubernetes or JWT auth role.
	Role string `json:"role,omitempty"`
	// TokenPath is the projected service-account token for Kubernetes and
	// JWT auth (default: the token Kubernetes mounts into every pod), read
	// at every login because it rotates. With token auth it names a file
	// holding the Vault token; empty means VAULT_TOKEN, then ~/.vault-token.
	TokenPath string `json:"tokenPath,omitempty"`
	// RoleIDPath and SecretIDPath hold AppRole credentials.
	RoleIDPath   string `json:"roleIDPath,omitempty"`
	SecretIDPath string `json:"secretIDPath,omitempty"`
	// RevokeGrace is how long an old lease lives after its replacement was
	// written, so the app can finish with it.
	RevokeGrace Duration `json:"revokeGrace,omitempty"`
	// RevokeOnShutdown revokes the agent's leases when the sidecar stops
	// (the injector's annotation vault-revoke-on-shutdown). Init mode
	// never does: its leases live on in the sidecar.
	RevokeOnShutdown bool `json:"revokeOnShutdown,omitempty"`
}

// GCPBackend talks to Google Secret Manager with Application Default
// Credentials.
type GCPBackend struct {
	// Project resolves short secret names.
	Project string `json:"project,omitempty"`
	// Endpoint overrides the API endpoint (tests, private endpoints).
	Endpoint string `json:"endpoint,omitempty"`
	// Insecure talks plaintext gRPC without credentials to Endpoint: for
	// emulators and test servers only.
	Insecure bool `json:"insecure,omitempty"`
}

// AWSBackend talks to AWS Secrets Manager with the default credential chain.
type AWSBackend struct {
	Region string `json:"region,omitempty"`
	// Endpoint overrides the API endpoint (tests, VPC endpoints).
	Endpoint string `json:"endpoint,omitempty"`
	// RoleARN is a role the agent assumes with STS AssumeRole, using the
	// default chain's credentials (the pod's identity) as the source:
	// cross-account access. Empty uses the pod's identity directly.
	RoleARN string `json:"roleARN,omitempty"`
}

// Secret is one secret to fetch and render.
type Secret struct {
	// Name is the file (or, for json, directory) name under MountPath.
	Name string `json:"name"`
	// Ref is the backend's reference, e.g. "tradepulse/postgres-tls".
	Ref string `json:"ref"`
	// Format is one of Formats; empty means raw.
	Format string `json:"format,omitempty"`
	// Fields renames JSON fields (json: file names; env: variable names).
	// For json, when set, only the listed fields are written.
	Fields map[string]string `json:"fields,omitempty"`
	// Template is the Go text/template for FormatTemplate.
	Template string `json:"template,omitempty"`
	// Mode is the file mode; zero means DefaultFileMode.
	Mode FileMode `json:"mode,omitempty"`
	// Owner overrides Config.Owner for this secret.
	Owner *Owner `json:"owner,omitempty"`
	// Optional secrets do not block init mode.
	Optional bool `json:"optional,omitempty"`
	// RefreshInterval overrides Config.RefreshInterval.
	RefreshInterval Duration `json:"refreshInterval,omitempty"`
	// Certificate, when set, makes this secret a certificate issued for
	// the pod (backend vault, Ref a PKI issuing path). It is issued anew
	// at about 2/3 of its validity rather than polled; Format defaults to
	// json (files cert.pem, key.pem, ca.pem under Name).
	Certificate *Certificate `json:"certificate,omitempty"`
}

// Owner is a numeric uid/gid pair for written files.
type Owner struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// Notify says how the app is told about new files. At most one of Signal
// and URL is set; neither means the app is not told.
type Notify struct {
	// Signal is a signal name (e.g. "SIGHUP") sent to every process whose
	// name is Process; it needs a shared process namespace.
	Signal  string `json:"signal,omitempty"`
	Process string `json:"process,omitempty"`
	// URL is called with Method (default POST); it must be on localhost.
	URL    string `json:"url,omitempty"`
	Method string `json:"method,omitempty"`
	// Debounce merges changes that land within this window into one call.
	Debounce Duration `json:"debounce,omitempty"`
}

// Kind reports how the app is told: "signal", "http" or "none".
func (n Notify) Kind() string {
	switch {
	case n.Signal != "":
		return "signal"
	case n.URL != "":
		return "http"
	}
	return "none"
}

// Parse decodes a JSON config, rejecting unknown fields, then normalises and
// validates it. getenv supplies SECRET_BACKEND (os.Getenv in production).
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	c.Normalize(getenv)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// FromEnv reads the config the injector placed in EnvVar.
func FromEnv() (*Config, error) {
	data := os.Getenv(EnvVar)
	if data == "" {
		return nil, fmt.Errorf("agent config: %s is empty; pass --config FILE or set %s", EnvVar, EnvVar)
	}
	return Parse([]byte(data), os.Getenv)
}

// Encode serialises the config compactly, for EnvVar.
func (c *Config) Encode() (string, error) {
	b, err := json.Marshal(c)
	return string(b), err
}

// Normalize fills defaults in place. It is idempotent.
func (c *Config) Normalize(getenv func(string) string) {
	if c.Backend.Type == "" && getenv != nil {
		c.Backend.Type = strings.TrimSpace(getenv(BackendEnvVar))
	}
	c.Backend.Type = cmp.Or(c.Backend.Type, BackendEnv)
	c.MountPath = cmp.Or(c.MountPath, DefaultMountPath)
	c.RefreshInterval = cmp.Or(c.RefreshInterval, DefaultRefreshInterval)
	c.InitTimeout = cmp.Or(c.InitTimeout, DefaultInitTimeout)
	c.AdminAddr = cmp.Or(c.AdminAddr, DefaultAdminAddr)
	c.MetricsAddr = cmp.Or(c.MetricsAddr, DefaultMetricsAddr)
	c.Notify.Debounce = cmp.Or(c.Notify.Debounce, DefaultDebounce)
	if c.Notify.URL != "" && c.Notify.Method == "" {
		c.Notify.Method = "POST"
	}
	for i := range c.Secrets {
		s := &c.Secrets[i]
		if s.Certificate != nil {
			s.Format = cmp.Or(s.Format, FormatJSON)
		}
		s.Format = cmp.Or(s.Format, FormatRaw)
		s.Mode = cmp.Or(s.Mode, DefaultFileMode)
		s.RefreshInterval = cmp.Or(s.RefreshInterval, c.RefreshInterval)
		if s.Owner == nil && c.Owner != nil {
			o := *c.Owner
			s.Owner = &o
		}
	}
}
