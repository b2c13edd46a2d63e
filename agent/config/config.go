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
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
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

// MinRefreshInterval is the shortest refresh interval the agent accepts:
// the injector's cluster minimum (Options.MinRefreshInterval) may be longer,
// never shorter.
const MinRefreshInterval = Duration(time.Second)

// Validate reports every problem with a normalised config at once, one
// line per problem naming the field at fault (Check, joined).
func (c *Config) Validate() error { return c.Check().Err() }

// Check reports every problem with a normalised config, each with the path
// of the field at fault.
func (c *Config) Check() FieldErrors {
	var errs FieldErrors
	if c.Version != APIVersion {
		errs.add("version", "%q is not supported; want %q", c.Version, APIVersion)
	}
	if !slices.Contains(Backends, c.Backend.Type) {
		errs.add("backend.type", "%q is not one of %s", c.Backend.Type, strings.Join(Backends, ", "))
	}
	if c.MountPath == "" {
		errs.add("mountPath", "must not be empty")
	}
	if c.RefreshInterval < MinRefreshInterval {
		errs.add("refreshInterval", "%s is below the %s minimum", c.RefreshInterval, MinRefreshInterval)
	}
	if g := c.Backend.GCP; g != nil && g.Insecure && g.Endpoint == "" {
		errs.add("backend.gcp.insecure", "needs backend.gcp.endpoint")
	}
	c.Notify.check("notify", &errs)
	if len(c.Secrets) == 0 {
		errs.add("secrets", "at least one secret is required")
	}
	seen := map[string]bool{}
	for i := range c.Secrets {
		s := &c.Secrets[i]
		s.check(index("secrets", i), c.Backend.Type, seen[s.Name], &errs)
		seen[s.Name] = true
	}
	return errs
}

// check reports the problems of a notify block at path.
func (n Notify) check(path string, errs *FieldErrors) {
	if n.Signal != "" && n.URL != "" {
		errs.add(path, "set signal or url, not both")
	}
	if n.Signal != "" {
		if err := ValidateSignal(n.Signal); err != nil {
			errs.add(path+".signal", "%v", err)
		}
		if n.Process == "" {
			errs.add(path+".process", "required with %s.signal", path)
		}
	}
	if n.URL != "" {
		if err := ValidateLocalURL(n.URL); err != nil {
			errs.add(path+".url", "%v", err)
		}
	}
}

// check reports the problems of one secret at path; backend is the
// config's backend type, dup whether an earlier secret has its name.
func (s *Secret) check(path, backend string, dup bool, errs *FieldErrors) {
	if err := ValidateName(s.Name); err != nil {
		errs.add(path+".name", "%v", err)
	}
	if dup {
		errs.add(path+".name", "%s is the name of an earlier secret", shortQuote(s.Name))
	}
	if strings.TrimSpace(s.Ref) == "" {
		errs.add(path+".ref", "must not be empty")
	}
	if !slices.Contains(Formats, s.Format) {
		errs.add(path+".format", "%q is not one of %s", s.Format, strings.Join(Formats, ", "))
	}
	if s.Format == FormatTemplate && s.Template == "" {
		errs.add(path+".template", "required with format template")
	}
	if s.Format != FormatTemplate && s.Template != "" {
		errs.add(path+".template", "only used with format template")
	}
	if len(s.Fields) > 0 && s.Format != FormatJSON && s.Format != FormatEnv {
		errs.add(path+".fields", "only used with format json or env")
	}
	for field, to := range s.Fields {
		if s.Format == FormatJSON {
			if err := ValidatePath(to); err != nil {
				errs.add(mapKey(path+".fields", field), "%v", err)
			}
		} else if s.Format == FormatEnv && !ValidEnvName(to) {
			errs.add(mapKey(path+".fields", field), "%q is not a valid environment variable name", to)
		}
	}
	if s.Mode&^0o777 != 0 || s.Mode&0o400 == 0 {
		errs.add(path+".mode", "%s must be a permission mode readable by its owner (e.g. 0400, 0440)", s.Mode)
	}
	if s.Mode&0o002 != 0 {
		errs.add(path+".mode", "%s is world-writable", s.Mode)
	}
	if s.RefreshInterval < MinRefreshInterval {
		errs.add(path+".refreshInterval", "%s is below the %s minimum", s.RefreshInterval, MinRefreshInterval)
	}
	if s.Owner != nil && (s.Owner.UID < 0 || s.Owner.GID < 0) {
		errs.add(path+".owner", "uid and gid must not be negative")
	}
	if s.Certificate != nil {
		if backend != BackendVault {
			errs.add(path+".certificate", "certificates are issued by backend vault (its PKI engine), not %s", backend)
		}
		if err := ValidateIssueRef(s.Ref); err != nil {
			errs.add(path+".ref", "with certificate, %v", err)
		}
		if s.Format != FormatJSON && s.Format != FormatTemplate {
			errs.add(path+".format", "a certificate is written as json (cert.pem, key.pem, ca.pem) or template, not %s", s.Format)
		}
		s.Certificate.check(path+".certificate", errs)
	}
}

// Name limits: a secret's name is one path element under the mount path.
const (
	MaxNameLength = 63
	MaxPathLength = 253
)

// ValidateName checks a secret's name: [a-z0-9][a-z0-9._-]*, no "..",
// at most MaxNameLength characters.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > MaxNameLength:
		return fmt.Errorf("%q is longer than %d characters", name, MaxNameLength)
	case strings.Contains(name, ".."):
		return fmt.Errorf("%q must not contain \"..\"", name)
	}
	for i, r := range name {
		lowerOrDigit := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if i == 0 && !lowerOrDigit {
			return fmt.Errorf("%q must start with a lower-case letter or digit", name)
		}
		if !lowerOrDigit && r != '.' && r != '_' && r != '-' {
			return fmt.Errorf("%q may hold only a-z, 0-9, '.', '_' and '-'", name)
		}
	}
	return nil
}

// ValidatePath checks a relative file path inside the mount: slash-separated
// elements, each of [A-Za-z0-9._-], none "." or "..", none starting with
// ".." (the writer's own entries), at most MaxPathLength characters.
func ValidatePath(p string) error {
	switch {
	case p == "":
		return errors.New("path must not be empty")
	case len(p) > MaxPathLength:
		return fmt.Errorf("path %q is longer than %d characters", p, MaxPathLength)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q must be relative", p)
	}
	for _, el := range strings.Split(p, "/") {
		switch {
		case el == "":
			return fmt.Errorf("path %q has an empty element", p)
		case el == "." || el == "..":
			return fmt.Errorf("path %q must not contain %q", p, el)
		case strings.HasPrefix(el, ".."):
			return fmt.Errorf("path %q: element %q must not start with \"..\"", p, el)
		case len(el) > MaxNameLength*4:
			return fmt.Errorf("path %q: element %q is too long", p, el)
		}
		for _, r := range el {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
				return fmt.Errorf("path %q may hold only A-Z, a-z, 0-9, '.', '_', '-' and '/'", p)
			}
		}
	}
	return nil
}

// ValidateLocalURL accepts only http(s) URLs on a loopback host, so that a
// pod annotation cannot make the agent call anywhere else.
func ValidateLocalURL(raw string) error {
	rest, ok := strings.CutPrefix(raw, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(raw, "https://")
	}
	if !ok {
		return fmt.Errorf("%q must start with http:// or https://", raw)
	}
	host := rest
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if strings.Contains(host, "@") {
		return fmt.Errorf("%q must not carry user info", raw)
	}
	if strings.HasPrefix(host, "[") {
		end := strings.Index(host, "]")
		if end < 0 {
			return fmt.Errorf("%q has a malformed host", raw)
		}
		host, rest = host[1:end], host[end+1:]
		if rest != "" && !strings.HasPrefix(rest, ":") {
			return fmt.Errorf("%q has a malformed host", raw)
		}
	} else if i := strings.LastIndex(host, ":"); i >= 0 {
		if _, err := strconv.Atoi(host[i+1:]); err != nil {
			return fmt.Errorf("%q has a malformed port", raw)
		}
		host = host[:i]
	}
	switch host {
	case "localhost", "127.0.0.1", "::1":
		return nil
	}
	return fmt.Errorf("%q must be on localhost, 127.0.0.1 or [::1]", raw)
}

// ValidEnvName reports whether s can name an environment variable:
// [A-Za-z_][A-Za-z0-9_]*.
func ValidEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
