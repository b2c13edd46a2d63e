package injector

import (
	stdcmp "cmp"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/agent/config"
)

// vaultConnOptions are testOptions with a Vault namespace allow-list and a
// CA bundle.
func vaultConnOptions() Options {
	o := testOptions()
	o.Vault.Role = "trading-default"
	o.Vault.Namespace = "trading"
	o.Vault.AllowedNamespaces = []string{"trading/prod"}
	o.Vault.CABundle = &VaultCABundle{Secret: "vault-tls", Key: "ca.pem"}
	return o
}

// TestVaultConnection: what the agent is told about the Vault connection,
// from the cluster's defaults and the pod's annotations, one tweak per row.
func TestVaultConnection(t *testing.T) {
	base := config.VaultBackend{
		Address: "https://vault.vault.svc:8200", Namespace: "trading", CACert: VaultCAFile,
		Auth: "kubernetes", AuthPath: "auth/kubernetes", Role: "trading-default", TokenPath: TokenPath,
	}
	tests := []struct {
		name        string
		opts        func(*Options)
		set         map[string]string
		want        func(*config.VaultBackend)
		initTimeout time.Duration
	}{
		{name: "cluster defaults"},
		{name: "jwt by annotation uses the cluster's jwt mount",
			set:  map[string]string{AnnotationVaultAuthMethod: "jwt"},
			want: func(v *config.VaultBackend) { v.Auth, v.AuthPath = "jwt", "auth/jwt" }},
		{name: "jwt by default, kubernetes by annotation",
			opts: func(o *Options) { o.Vault.AuthMethod, o.Vault.JWTAuthPath = "jwt", "auth/k8s-oidc" },
			set:  map[string]string{AnnotationVaultAuthMethod: "kubernetes"}},
		{name: "jwt by default",
			opts: func(o *Options) { o.Vault.AuthMethod, o.Vault.JWTAuthPath = "jwt", "auth/k8s-oidc" },
			want: func(v *config.VaultBackend) { v.Auth, v.AuthPath = "jwt", "auth/k8s-oidc" }},
		{name: "auth path annotation applies to jwt",
			set:  map[string]string{AnnotationVaultAuthMethod: "jwt", AnnotationVaultAuthPath: "auth/jwt-prod"},
			want: func(v *config.VaultBackend) { v.Auth, v.AuthPath = "jwt", "auth/jwt-prod" }},
		{name: "allowed namespace",
			set:  map[string]string{AnnotationVaultNamespace: "trading/prod"},
			want: func(v *config.VaultBackend) { v.Namespace = "trading/prod" }},
		{name: "the default namespace by annotation",
			set: map[string]string{AnnotationVaultNamespace: "trading"}},
		{name: "no default namespace",
			opts: func(o *Options) { o.Vault.Namespace = "" },
			want: func(v *config.VaultBackend) { v.Namespace = "" }},
		{name: "no CA bundle trusts the image's roots",
			opts: func(o *Options) { o.Vault.CABundle = nil },
			want: func(v *config.VaultBackend) { v.CACert = "" }},
		{name: "revoke on shutdown by default",
			opts: func(o *Options) { o.Vault.RevokeOnShutdown = true },
			want: func(v *config.VaultBackend) { v.RevokeOnShutdown = true }},
		{name: "revoke on shutdown turned off by annotation",
			opts: func(o *Options) { o.Vault.RevokeOnShutdown = true },
			set:  map[string]string{AnnotationVaultRevokeOnShutdown: "false"}},
		{name: "revoke on shutdown by annotation",
			set:  map[string]string{AnnotationVaultRevokeOnShutdown: "true"},
			want: func(v *config.VaultBackend) { v.RevokeOnShutdown = true }},
		{name: "init timeout at the cluster's maximum",
			set: map[string]string{AnnotationInitTimeout: "10m"}, initTimeout: 10 * time.Minute},
		{name: "init timeout at the minimum",
			set: map[string]string{AnnotationInitTimeout: "10s"}, initTimeout: 10 * time.Second},
		{name: "the cluster's init timeout",
			opts: func(o *Options) { o.InitTimeout, o.MaxInitTimeout = 3*time.Minute, 20*time.Minute }, initTimeout: 3 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := vaultConnOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			ann := validAnnotations()
			ann[AnnotationBackend] = "vault"
			maps.Copy(ann, tt.set)
			spec, err := Parse(ann, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := base
			if tt.want != nil {
				tt.want(&want)
			}
			if diff := cmp.Diff(&want, spec.Config.Backend.Vault); diff != "" {
				t.Errorf("vault config (-want +got):\n%s", diff)
			}
			wantInit := stdcmp.Or(tt.initTimeout, time.Duration(config.DefaultInitTimeout))
			if got := time.Duration(spec.Config.InitTimeout); got != wantInit {
				t.Errorf("init timeout %s, want %s", got, wantInit)
			}
		})
	}
}

// TestVaultConnectionDenials: each key out of bounds denies the pod with a
// reason naming it.
func TestVaultConnectionDenials(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"namespace not allowed", map[string]string{AnnotationVaultNamespace: "research"},
			`annotation secrets.tradepulse.io/vault-namespace: "research" is not one of the Vault namespaces this cluster allows; allowed: trading, trading/prod`},
		{"namespace not a path", map[string]string{AnnotationVaultNamespace: "trading/../admin"},
			`annotation secrets.tradepulse.io/vault-namespace: "trading/../admin" must be a Vault namespace path such as "trading/prod" (names of A-Z, a-z, 0-9, '.', '_', '-' separated by '/')`},
		{"empty namespace (root) not allowed", map[string]string{AnnotationVaultNamespace: ""},
			`annotation secrets.tradepulse.io/vault-namespace: "" must be a Vault namespace path such as "trading/prod" (names of A-Z, a-z, 0-9, '.', '_', '-' separated by '/')`},
		{"auth method unknown", map[string]string{AnnotationVaultAuthMethod: "approle"},
			`annotation secrets.tradepulse.io/vault-auth-method: "approle" is not one of kubernetes, jwt`},
		{"revoke not a boolean", map[string]string{AnnotationVaultRevokeOnShutdown: "always"},
			`annotation secrets.tradepulse.io/vault-revoke-on-shutdown: must be "true" or "false", not "always"`},
		{"init timeout above the maximum", map[string]string{AnnotationInitTimeout: "11m"},
			`annotation secrets.tradepulse.io/init-timeout: "11m" is above this cluster's maximum init timeout of 10m`},
		{"init timeout below the minimum", map[string]string{AnnotationInitTimeout: "9s"},
			`annotation secrets.tradepulse.io/init-timeout: "9s" is below the minimum init timeout of 10s`},
		{"init timeout not a duration", map[string]string{AnnotationInitTimeout: "300"},
			`annotation secrets.tradepulse.io/init-timeout: "300" is not a Go duration such as "2m"`},
		{"vault keys with another backend", map[string]string{AnnotationBackend: "gcp", AnnotationVaultNamespace: "trading", AnnotationVaultAuthMethod: "jwt", AnnotationVaultRevokeOnShutdown: "true"},
			`annotation secrets.tradepulse.io/vault-auth-method: only used with backend vault; this pod's backend is gcp
annotation secrets.tradepulse.io/vault-namespace: only used with backend vault; this pod's backend is gcp
annotation secrets.tradepulse.io/vault-revoke-on-shutdown: only used with backend vault; this pod's backend is gcp`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ann := validAnnotations()
			ann[AnnotationBackend] = "vault"
			maps.Copy(ann, tt.set)
			_, err := Parse(ann, vaultConnOptions())
			if err == nil {
				t.Fatal("accepted")
			}
			if err.Error() != tt.want {
				t.Errorf("denial:\n%s\nwant:\n%s", err, tt.want)
			}
		})
	}
}

// TestVaultConnectionOptions: the cluster's own settings are checked when
// the webhook starts.
func TestVaultConnectionOptions(t *testing.T) {
	tests := []struct {
		name string
		opts func(*Options)
		want string // in the error
	}{
		{"both CA sources", func(o *Options) { o.Vault.CABundle = &VaultCABundle{ConfigMap: "a", Secret: "b"} }, "name a ConfigMap or a Secret, not both or neither"},
		{"no CA source", func(o *Options) { o.Vault.CABundle = &VaultCABundle{Key: "ca.crt"} }, "name a ConfigMap or a Secret, not both or neither"},
		{"CA ConfigMap name", func(o *Options) { o.Vault.CABundle = &VaultCABundle{ConfigMap: "Vault CA"} }, `"Vault CA" is not a ConfigMap name`},
		{"CA key", func(o *Options) { o.Vault.CABundle = &VaultCABundle{Secret: "vault-tls", Key: "../ca"} }, `"../ca" is not a ConfigMap or Secret key`},
		{"auth method", func(o *Options) { o.Vault.AuthMethod = "oidc" }, `vault auth method "oidc" is not one of kubernetes, jwt`},
		{"jwt mount", func(o *Options) { o.Vault.JWTAuthPath = "jwt" }, `vault jwt auth path: "jwt" must be an auth mount path`},
		{"namespace", func(o *Options) { o.Vault.Namespace = "a b" }, `vault namespace: "a b" must be a Vault namespace path`},
		{"allowed namespace", func(o *Options) { o.Vault.AllowedNamespaces = []string{"/"} }, `allowed vault namespace: "/" must be a Vault namespace path`},
		{"init timeout over the maximum", func(o *Options) { o.InitTimeout, o.MaxInitTimeout = 5*time.Minute, 4*time.Minute }, "init timeout 5m0s must be from 10s to the maximum init timeout 4m0s"},
		{"init timeout under the minimum", func(o *Options) { o.InitTimeout = time.Second }, "init timeout 1s must be from 10s"},
		{"maximum init timeout too long", func(o *Options) { o.MaxInitTimeout = 2 * time.Hour }, "maximum init timeout 2h0m0s must be from 10s to 1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := vaultConnOptions()
			tt.opts(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v; want an error holding %q", err, tt.want)
			}
		})
	}
	if err := vaultConnOptions().Validate(); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}

// TestVaultCABundleVolume: the CA bundle reaches the agent containers
// alone, read-only, as ca.crt, and leaves with the vault backend.
func TestVaultCABundleVolume(t *testing.T) {
	ann := validAnnotations()
	ann[AnnotationBackend] = "vault"
	pod := fuzzPod(ann)
	if _, err := Inject(pod, vaultConnOptions()); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == VaultCAVolumeName })
	if i < 0 {
		t.Fatalf("no %s volume: %v", VaultCAVolumeName, pod.Spec.Volumes)
	}
	sec := pod.Spec.Volumes[i].Secret
	if sec == nil || sec.SecretName != "vault-tls" || !cmp.Equal(sec.Items, []corev1.KeyToPath{{Key: "ca.pem", Path: "ca.crt"}}) {
		t.Errorf("CA volume = %+v; want Secret vault-tls, key ca.pem as ca.crt", pod.Spec.Volumes[i].VolumeSource)
	}
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		j := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == VaultCAVolumeName })
		switch {
		case ours(c.Name) && (j < 0 || !c.VolumeMounts[j].ReadOnly || c.VolumeMounts[j].MountPath != VaultCADir):
			t.Errorf("agent container %s: CA mount %v; want read-only at %s", c.Name, c.VolumeMounts, VaultCADir)
		case !ours(c.Name) && j >= 0:
			t.Errorf("app container %s mounts the CA bundle", c.Name)
		}
	}

	// Re-injected with another backend, the volume goes.
	pod.Annotations[AnnotationBackend] = "gcp"
	if _, err := Inject(pod, vaultConnOptions()); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == VaultCAVolumeName }) {
		t.Error("the CA volume stays after the backend changed to gcp")
	}
}
