package charttest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/injector"
)

// TestVaultConnectionValues: the Vault connection values reach the webhook
// as the flags that set the injector's options, and the injector accepts
// them.
func TestVaultConnectionValues(t *testing.T) {
	helm := helmBinary(t)
	objs, err := Render(helm, renderCaseNamed(t, "vault-connection").values, testNamespace)
	if err != nil {
		t.Fatal(err)
	}
	_, flags := webhookArgs(t, objs)
	o := optionsFromFlags(t, flags)
	want := injector.VaultDefaults{
		Address: "https://vault.vault.svc:8200", AuthPath: "auth/kubernetes", Role: "trading", Audience: "vault",
		AuthMethod: "jwt", JWTAuthPath: "auth/k8s-oidc", Namespace: "trading", AllowedNamespaces: []string{"trading/prod", "research"},
		CABundle: &injector.VaultCABundle{ConfigMap: "vault-ca", Key: "bundle.pem"}, RevokeOnShutdown: true,
	}
	if !reflect.DeepEqual(o.Vault, want) {
		t.Errorf("vault options from the flags\n%+v\nwant\n%+v", o.Vault, want)
	}
	if o.InitTimeout != 5*time.Minute || o.MaxInitTimeout != 15*time.Minute {
		t.Errorf("init timeout %s, max %s; want 5m0s, 15m0s", o.InitTimeout, o.MaxInitTimeout)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("the injector rejects the values: %v", err)
	}

	// The defaults: Kubernetes auth, no namespace, no CA bundle.
	objs, err = Render(helm, nil, testNamespace)
	if err != nil {
		t.Fatal(err)
	}
	_, flags = webhookArgs(t, objs)
	o = optionsFromFlags(t, flags)
	if o.Vault.AuthMethod != "kubernetes" || o.Vault.Namespace != "" || o.Vault.CABundle != nil || o.Vault.RevokeOnShutdown ||
		o.InitTimeout != 2*time.Minute || o.MaxInitTimeout != 10*time.Minute {
		t.Errorf("default render: vault %+v, init timeout %s, max %s", o.Vault, o.InitTimeout, o.MaxInitTimeout)
	}
}

// TestVaultConnectionSchema: mistakes in the Vault connection values fail
// at helm install, pointing at the value.
func TestVaultConnectionSchema(t *testing.T) {
	helm := helmBinary(t)
	vault := func(v map[string]any) map[string]any {
		return map[string]any{"defaults": map[string]any{"vault": v}}
	}
	tests := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"CA in a ConfigMap and a Secret", vault(map[string]any{"caBundle": map[string]any{"configMap": "a", "secret": "b"}}), "at '/defaults/vault/caBundle'"},
		{"CA key empty", vault(map[string]any{"caBundle": map[string]any{"key": ""}}), "at '/defaults/vault/caBundle/key'"},
		{"CA ConfigMap name", vault(map[string]any{"caBundle": map[string]any{"configMap": "Vault CA"}}), "at '/defaults/vault/caBundle/configMap'"},
		{"caBundle key misspelt", vault(map[string]any{"caBundle": map[string]any{"configmap": "a"}}), "additional properties 'configmap' not allowed"},
		{"unknown auth method", vault(map[string]any{"authMethod": "oidc"}), "at '/defaults/vault/authMethod'"},
		{"jwt mount without auth/", vault(map[string]any{"jwtAuthPath": "jwt"}), "at '/defaults/vault/jwtAuthPath'"},
		{"namespace with a space", vault(map[string]any{"namespace": "a b"}), "at '/defaults/vault/namespace'"},
		{"allowed namespace empty", vault(map[string]any{"allowedNamespaces": []any{""}}), "at '/defaults/vault/allowedNamespaces/0'"},
		{"revoke not a boolean", vault(map[string]any{"revokeOnShutdown": "yes"}), "at '/defaults/vault/revokeOnShutdown'"},
		{"init timeout not a duration", map[string]any{"defaults": map[string]any{"initTimeout": "2"}}, "at '/defaults/initTimeout'"},
		{"max init timeout not a duration", map[string]any{"defaults": map[string]any{"maxInitTimeout": "ten minutes"}}, "at '/defaults/maxInitTimeout'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(helm, tt.values, testNamespace)
			if err == nil {
				t.Fatal("rendered")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not point at %q:\n%v", tt.want, err)
			}
		})
	}
}
