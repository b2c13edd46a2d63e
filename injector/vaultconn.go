package injector

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/agent/config"
)

// This file is the Vault connection of injected pods: the auth method, the
// namespace, the CA bundle that verifies Vault's TLS, lease revocation at
// shutdown, and the init timeout's bounds.

// Vault auth methods a pod may use; both present the projected
// service-account token.
const (
	VaultAuthKubernetes = "kubernetes"
	VaultAuthJWT        = "jwt"
)

// VaultAuthMethods lists the auth methods, default first.
var VaultAuthMethods = []string{VaultAuthKubernetes, VaultAuthJWT}

// Defaults of the Vault connection and the init timeout.
const (
	// DefaultVaultJWTAuthPath is Vault's default JWT auth mount.
	DefaultVaultJWTAuthPath = "auth/jwt"
	// DefaultVaultCAKey is the key of the CA bundle in its ConfigMap or
	// Secret (cert-manager's and trust-manager's name).
	DefaultVaultCAKey = "ca.crt"
	// MinInitTimeout is the shortest init timeout: below it a Vault login
	// and a first read on a busy cluster would fail pods that are fine.
	MinInitTimeout = 10 * time.Second
	// DefaultMaxInitTimeout bounds the init-timeout annotation: an init
	// container that cannot get its secrets holds the pod's start.
	DefaultMaxInitTimeout = 10 * time.Minute
	// maxMaxInitTimeout bounds the cluster's own maximum.
	maxMaxInitTimeout = time.Hour
)

// The CA bundle inside the agent containers.
const (
	// VaultCAVolumeName is the volume holding the CA bundle.
	VaultCAVolumeName = "secret-injector-vault-ca"
	// VaultCADir is where it is mounted, read-only, in the agent
	// containers; VaultCAFile is the bundle the agent config names.
	VaultCADir  = agentDir + "/vault-ca"
	VaultCAFile = VaultCADir + "/ca.crt"
)

// caFileMode: a CA bundle is public, and the agent runs under a uid of its
// own; set explicitly so that the API server's default (0644) does not
// look like a change to a reinvoked webhook.
const caFileMode int32 = 0o444

// VaultCABundle names the ConfigMap or Secret, in the pod's namespace,
// whose key holds the PEM bundle of the CA that signed Vault's
// certificate. Set ConfigMap or Secret, not both. Volumes reach only
// objects in the pod's own namespace: it must exist in every namespace
// whose pods use Vault (trust-manager's Bundle distributes one).
type VaultCABundle struct {
	ConfigMap string
	Secret    string
	// Key is the bundle's key; empty means DefaultVaultCAKey.
	Key string
}

// vaultConnDefaults fills the zero Vault connection fields and the init
// timeouts.
func (o Options) vaultConnDefaults() Options {
	o.Vault.AuthMethod = cmp.Or(o.Vault.AuthMethod, VaultAuthKubernetes)
	o.Vault.JWTAuthPath = cmp.Or(o.Vault.JWTAuthPath, DefaultVaultJWTAuthPath)
	if ca := o.Vault.CABundle; ca != nil && ca.Key == "" {
		c := *ca // never mutate the caller's
		c.Key = DefaultVaultCAKey
		o.Vault.CABundle = &c
	}
	o.InitTimeout = cmp.Or(o.InitTimeout, time.Duration(config.DefaultInitTimeout))
	if o.MaxInitTimeout == 0 {
		o.MaxInitTimeout = max(DefaultMaxInitTimeout, o.InitTimeout)
	}
	return o
}

// vaultConnProblems reports what is wrong with the defaulted Vault
// connection options and init timeouts.
func (o Options) vaultConnProblems(errs *optionProblems) {
	add := errs.add
	v := o.Vault
	if !slices.Contains(VaultAuthMethods, v.AuthMethod) {
		add("vault auth method %q is not one of %s", v.AuthMethod, strings.Join(VaultAuthMethods, ", "))
	}
	if r := vaultAuthPathProblem(v.JWTAuthPath); r != "" {
		add("vault jwt auth path: %s", r)
	}
	errs.optional("vault namespace", v.Namespace, vaultNamespaceProblem)
	for _, ns := range v.AllowedNamespaces {
		if r := vaultNamespaceProblem(ns); r != "" {
			add("allowed vault namespace: %s", r)
		}
	}
	if ca := v.CABundle; ca != nil {
		switch {
		case (ca.ConfigMap == "") == (ca.Secret == ""):
			add("vault CA bundle: name a ConfigMap or a Secret, not both or neither")
		case ca.ConfigMap != "" && len(validation.IsDNS1123Subdomain(ca.ConfigMap)) > 0:
			add("vault CA bundle: %q is not a ConfigMap name", ca.ConfigMap)
		case ca.Secret != "" && len(validation.IsDNS1123Subdomain(ca.Secret)) > 0:
			add("vault CA bundle: %q is not a Secret name", ca.Secret)
		}
		if len(validation.IsConfigMapKey(ca.Key)) > 0 {
			add("vault CA bundle: %q is not a ConfigMap or Secret key", ca.Key)
		}
	}
	switch {
	case o.MaxInitTimeout < MinInitTimeout || o.MaxInitTimeout > maxMaxInitTimeout:
		add("maximum init timeout %s must be from %s to %s", o.MaxInitTimeout, MinInitTimeout, maxMaxInitTimeout)
	case o.InitTimeout < MinInitTimeout || o.InitTimeout > o.MaxInitTimeout:
		add("init timeout %s must be from %s to the maximum init timeout %s", o.InitTimeout, MinInitTimeout, o.MaxInitTimeout)
	}
}

// vaultNamespaceProblem checks a Vault namespace path such as
// "trading/prod": slash-separated names of A-Z, a-z, 0-9, '.', '_', '-'.
func vaultNamespaceProblem(ns string) string {
	if config.ValidatePath(strings.TrimSuffix(ns, "/")) != nil {
		return fmt.Sprintf("%s must be a Vault namespace path such as \"trading/prod\" (names of A-Z, a-z, 0-9, '.', '_', '-' separated by '/')", quote(ns))
	}
	return ""
}

// vaultConn fills v's auth method and mount, namespace, CA bundle and
// revocation from the cluster's defaults and the pod's annotations.
func (p *parser) vaultConn(v *config.VaultBackend) {
	d := p.opts.Vault
	method := d.AuthMethod
	if m, ok := p.ann[AnnotationVaultAuthMethod]; ok {
		if slices.Contains(VaultAuthMethods, m) {
			method = m
		} else {
			p.add(AnnotationVaultAuthMethod, "%s is not one of %s", quote(m), strings.Join(VaultAuthMethods, ", "))
		}
	}
	v.Auth = method
	mount := d.AuthPath
	if method == VaultAuthJWT {
		mount = d.JWTAuthPath
	}
	v.AuthPath = p.value(AnnotationVaultAuthPath, mount, vaultAuthPathProblem)

	v.Namespace = d.Namespace
	if ns, ok := p.ann[AnnotationVaultNamespace]; ok {
		switch {
		case vaultNamespaceProblem(ns) != "":
			p.add(AnnotationVaultNamespace, "%s", vaultNamespaceProblem(ns))
		case ns != d.Namespace && !slices.Contains(d.AllowedNamespaces, ns):
			allowed := slices.Clone(d.AllowedNamespaces)
			if d.Namespace != "" {
				allowed = append([]string{d.Namespace}, allowed...)
			}
			p.add(AnnotationVaultNamespace, "%s is not one of the Vault namespaces this cluster allows; allowed: %s", quote(ns), orNone(allowed))
		default:
			v.Namespace = ns
		}
	}

	if d.CABundle != nil {
		v.CACert = VaultCAFile
	}

	v.RevokeOnShutdown = d.RevokeOnShutdown
	if s, ok := p.ann[AnnotationVaultRevokeOnShutdown]; ok {
		on, r := parseBool(s)
		if r != "" {
			p.add(AnnotationVaultRevokeOnShutdown, "%s", r)
		}
		v.RevokeOnShutdown = on
	}
}

// initTimeout reads the init-timeout annotation, bounded by MinInitTimeout
// and the cluster's maximum.
func (p *parser) initTimeout() config.Duration {
	v, ok := p.ann[AnnotationInitTimeout]
	if !ok {
		return config.Duration(p.opts.InitTimeout)
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		p.add(AnnotationInitTimeout, "%s is not a Go duration such as \"2m\"", quote(v))
	case d < MinInitTimeout:
		p.add(AnnotationInitTimeout, "%s is below the minimum init timeout of %s", quote(v), shortDuration(MinInitTimeout))
	case d > p.opts.MaxInitTimeout:
		p.add(AnnotationInitTimeout, "%s is above this cluster's maximum init timeout of %s", quote(v), shortDuration(p.opts.MaxInitTimeout))
	default:
		return config.Duration(d)
	}
	return config.Duration(p.opts.InitTimeout)
}

// vaultCAVolume projects the CA bundle's key to ca.crt.
func vaultCAVolume(ca *VaultCABundle) corev1.Volume {
	items := []corev1.KeyToPath{{Key: ca.Key, Path: "ca.crt"}}
	if ca.Secret != "" {
		return corev1.Volume{Name: VaultCAVolumeName, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: ca.Secret, Items: items, DefaultMode: ptr.To(caFileMode),
		}}}
	}
	return corev1.Volume{Name: VaultCAVolumeName, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: ca.ConfigMap}, Items: items, DefaultMode: ptr.To(caFileMode),
	}}}
}
