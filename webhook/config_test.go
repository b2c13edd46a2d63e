package webhook

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func validConfig() Config {
	return Config{
		TLSMode:           TLSModeSelfManaged,
		CertDir:           "/certs",
		Namespace:         "secret-injector",
		ServiceName:       "secret-injector-webhook",
		WebhookConfigName: "secret-injector",
		Injector:          testInjectorOptions(),
	}
}

func TestConfigDefaults(t *testing.T) {
	c := validConfig()
	c.ExtraHosts = []string{"10.0.0.7"}
	got := c.withDefaults()
	if err := got.validate(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"secret-injector-webhook.secret-injector.svc",
		"secret-injector-webhook.secret-injector.svc.cluster.local",
		"secret-injector-webhook.secret-injector",
		"secret-injector-webhook",
		"10.0.0.7",
	}
	if diff := cmp.Diff(want, got.CertPolicy.Hosts); diff != "" {
		t.Errorf("certificate hosts (-want +got):\n%s", diff)
	}
	if got.SecretName != "secret-injector-webhook-tls" || got.Port != DefaultPort || got.NativeSidecars != NativeSidecarsAuto {
		t.Errorf("defaults: secret %q port %d native %q", got.SecretName, got.Port, got.NativeSidecars)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		tweak   func(*Config)
		wantErr string
	}{
		{name: "valid self-managed", tweak: func(*Config) {}},
		{name: "valid file mode", tweak: func(c *Config) { *c = Config{TLSMode: TLSModeFile, CertDir: "/c", Injector: testInjectorOptions()} }},
		{name: "unknown tls mode", tweak: func(c *Config) { c.TLSMode = "magic" }, wantErr: `tls mode "magic"`},
		{name: "no cert dir", tweak: func(c *Config) { c.CertDir = "" }, wantErr: "cert dir is required"},
		{name: "self-managed without namespace", tweak: func(c *Config) { c.Namespace = "" }, wantErr: "needs the namespace"},
		{name: "self-managed without configuration", tweak: func(c *Config) { c.WebhookConfigName = "" }, wantErr: "webhook configuration name"},
		{name: "propagation shorter than two checks", tweak: func(c *Config) { c.CertCheckInterval = 10 * time.Minute }, wantErr: "propagation delay"},
		{name: "bad port", tweak: func(c *Config) { c.Port = 70000 }, wantErr: "port 70000"},
		{name: "bad native sidecars mode", tweak: func(c *Config) { c.NativeSidecars = "yes" }, wantErr: `native sidecars "yes"`},
		{name: "bad injector options", tweak: func(c *Config) { c.Injector.DefaultBackend = "ftp" }, wantErr: `default backend "ftp"`},
		{name: "mutator replaces injector options", tweak: func(c *Config) {
			c.Injector = testInjectorOptions()
			c.Injector.AgentImage = ""
			c.Mutator = MutatorFunc(nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.tweak(&c)
			err := c.withDefaults().validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}
