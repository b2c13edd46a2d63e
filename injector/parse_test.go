package injector

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tradepulse/secret-injector/agent/config"
)

// validAnnotations is the base every row tweaks.
func validAnnotations() map[string]string {
	return map[string]string{
		AnnotationInject:                   "true",
		AnnotationSecretPrefix + "api-key": "exchanges-binance-api-key",
	}
}

// TestParseDenials: one tweak per row, the whole denial compared.
func TestParseDenials(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"vault auth path without auth/", map[string]string{AnnotationBackend: "vault", AnnotationVaultRole: "r", AnnotationVaultAuthPath: "kubernetes"},
			`annotation secrets.tradepulse.io/vault-auth-path: "kubernetes" must be an auth mount path such as "auth/kubernetes"`},
		{"vault address not a URL", map[string]string{AnnotationBackend: "vault", AnnotationVaultRole: "r", AnnotationVaultAddress: "vault:8200"},
			`annotation secrets.tradepulse.io/vault-address: "vault:8200" must be an http(s) URL such as "https://vault.vault.svc:8200"`},
		{"gcp project shape", map[string]string{AnnotationGCPProject: "Tradepulse_Prod"},
			`annotation secrets.tradepulse.io/gcp-project: "Tradepulse_Prod" is not a project ID (6–30 of a-z, 0-9, '-', starting with a letter) or project number`},
		{"aws region shape", map[string]string{AnnotationBackend: "aws", AnnotationAWSRegion: "Frankfurt"},
			`annotation secrets.tradepulse.io/aws-region: "Frankfurt" is not an AWS region such as "eu-west-1"`},
		{"unknown backend", map[string]string{AnnotationBackend: "azure"},
			`annotation secrets.tradepulse.io/backend: "azure" is not one of gcp, vault, aws, env`},
		{"reload bogus", map[string]string{AnnotationReload: "kill"},
			`annotation secrets.tradepulse.io/reload: "kill" is not one of none, restart, signal:<SIGNAL>:<process-name> or an http(s) URL on localhost`},
		{"reload process with a path", map[string]string{AnnotationReload: "signal:SIGHUP:/usr/sbin/nginx"},
			`annotation secrets.tradepulse.io/reload: process name "/usr/sbin/nginx" must be a program name: no '/', spaces or control characters, at most 64 characters`},
		{"reload url with user info", map[string]string{AnnotationReload: "http://user@127.0.0.1:8080/"},
			`annotation secrets.tradepulse.io/reload: "http://user@127.0.0.1:8080/" must not carry user info`},
		{"reload url is the agent's admin API", map[string]string{AnnotationReload: "http://127.0.0.1:9101/v1/refresh"},
			`annotation secrets.tradepulse.io/reload: "http://127.0.0.1:9101/v1/refresh" is the agent's own admin API (port 9101), not the app: each reload would make the agent fetch again and issue new credentials; give the app's own reload endpoint`},
		{"reload url is the agent's admin API on localhost", map[string]string{AnnotationReload: "https://localhost:09101/v1/revoke"},
			`annotation secrets.tradepulse.io/reload: "https://localhost:09101/v1/revoke" is the agent's own admin API (port 9101), not the app: each reload would make the agent fetch again and issue new credentials; give the app's own reload endpoint`},
		{"reload url is the agent's admin API on [::1]", map[string]string{AnnotationReload: "http://[::1]:9101/"},
			`annotation secrets.tradepulse.io/reload: "http://[::1]:9101/" is the agent's own admin API (port 9101), not the app: each reload would make the agent fetch again and issue new credentials; give the app's own reload endpoint`},
		{"reload url is the agent's metrics port", map[string]string{AnnotationReload: "http://localhost:9102/metrics"},
			`annotation secrets.tradepulse.io/reload: "http://localhost:9102/metrics" is the agent's own metrics port (9102), not the app; give the app's own reload endpoint`},
		{"reload url on 0.0.0.0", map[string]string{AnnotationReload: "http://0.0.0.0:9101/v1/refresh"},
			`annotation secrets.tradepulse.io/reload: "http://0.0.0.0:9101/v1/refresh" must be on localhost, 127.0.0.1 or [::1]`},
		{"reload url with a signed port", map[string]string{AnnotationReload: "http://127.0.0.1:+9101/v1/refresh"},
			`annotation secrets.tradepulse.io/reload: "http://127.0.0.1:+9101/v1/refresh" is not a valid URL`},
		{"mount path relative", map[string]string{AnnotationMountPath: "secrets"},
			`annotation secrets.tradepulse.io/mount-path: "secrets" must be an absolute path`},
		{"mount path root", map[string]string{AnnotationMountPath: "/"},
			`annotation secrets.tradepulse.io/mount-path: must not be "/"`},
		{"mount path hides token mounts", map[string]string{AnnotationMountPath: "/var/run"},
			`annotation secrets.tradepulse.io/mount-path: "/var/run" would hide the service-account token mounts below it`},
		{"mount path over the kubernetes token", map[string]string{AnnotationMountPath: "/var/run/secrets/kubernetes.io/x"},
			`annotation secrets.tradepulse.io/mount-path: "/var/run/secrets/kubernetes.io/x" is under /var/run/secrets/kubernetes.io, which the secrets volume must not cover`},
		{"mount path over our token", map[string]string{AnnotationMountPath: TokenDir},
			`annotation secrets.tradepulse.io/mount-path: "/var/run/secrets/tradepulse.io/serviceaccount" is under /var/run/secrets/tradepulse.io, which the secrets volume must not cover`},
		{"mount path with a space", map[string]string{AnnotationMountPath: "/my secrets"},
			`annotation secrets.tradepulse.io/mount-path: "/my secrets" may hold only A-Z, a-z, 0-9, '.', '_', '-' and '/'`},
		{"memory limit without unit", map[string]string{AnnotationAgentMemoryLimit: "64"},
			`annotation secrets.tradepulse.io/agent-memory-limit: "64" is below the 16Mi the agent needs`},
		{"cpu request zero", map[string]string{AnnotationAgentCPURequest: "0"},
			`annotation secrets.tradepulse.io/agent-cpu-request: "0" must be positive`},
		{"memory limit below the request", map[string]string{AnnotationAgentMemoryLimit: "20Mi"},
			`annotation secrets.tradepulse.io/agent-memory-limit: the agent's memory request 24Mi is above its limit 20Mi`},
		{"agent image with a space", map[string]string{AnnotationAgentImage: "ghcr.io/x agent"},
			`annotation secrets.tradepulse.io/agent-image: must not contain spaces or control characters`},
		{"agent image prefix is not a tag", map[string]string{AnnotationAgentImage: "ghcr.io/tradepulse/secret-injector:"},
			`annotation secrets.tradepulse.io/agent-image: "ghcr.io/tradepulse/secret-injector:" is not an image this cluster allows for the agent; allowed: ghcr.io/tradepulse/secret-injector:v0.1.0, ghcr.io/tradepulse/secret-injector:*, registry.tradepulse.internal/platform/*`},
		{"file mode not readable", map[string]string{AnnotationFileModePrefix + "api-key": "0200"},
			`annotation secrets.tradepulse.io/file-mode-api-key: "0200" must let the owner read the files (e.g. 0400, 0440)`},
		{"file mode not octal", map[string]string{AnnotationFileModePrefix + "api-key": "rw"},
			`annotation secrets.tradepulse.io/file-mode-api-key: "rw" must be octal permissions such as "0400" or "0440"`},
		{"negative interval", map[string]string{AnnotationRefreshInterval: "-1s"},
			`annotation secrets.tradepulse.io/refresh-interval: "-1s" is below this cluster's minimum refresh interval of 30s`},
		{"interval below the cluster's minimum", map[string]string{AnnotationRefreshInterval: "29s"},
			`annotation secrets.tradepulse.io/refresh-interval: "29s" is below this cluster's minimum refresh interval of 30s`},
		{"secret's interval below the cluster's minimum", map[string]string{AnnotationRefreshIntervalPrefix + "api-key": "1s"},
			`annotation secrets.tradepulse.io/refresh-interval-api-key: "1s" is below this cluster's minimum refresh interval of 30s`},
		{"more secrets than the cluster allows", manySecrets(DefaultMaxSecrets + 1),
			`annotation secrets.tradepulse.io/secret-*: the pod declares 65 secrets; this cluster allows at most 64 per pod`},
		{"json target both file and directory", map[string]string{AnnotationFormatPrefix + "api-key": "json", AnnotationFieldsPrefix + "api-key": "a=tls,b=tls/key"},
			`annotation secrets.tradepulse.io/fields-api-key: "tls" is both a file and a directory of "tls/key"`},
		{"field listed twice", map[string]string{AnnotationFormatPrefix + "api-key": "json", AnnotationFieldsPrefix + "api-key": "a=x,a=y"},
			`annotation secrets.tradepulse.io/fields-api-key: field "a" is listed twice`},
		{"empty template", map[string]string{AnnotationFormatPrefix + "api-key": "template", AnnotationTemplatePrefix + "api-key": " \n"},
			`annotation secrets.tradepulse.io/template-api-key: must not be empty`},
		{"ref with a newline", map[string]string{AnnotationSecretPrefix + "api-key": "a\nb"},
			`annotation secrets.tradepulse.io/secret-api-key: the reference must not contain control characters (newlines, tabs)`},
		{"ref with a trailing space", map[string]string{AnnotationSecretPrefix + "api-key": "a "},
			`annotation secrets.tradepulse.io/secret-api-key: the reference must not start or end with spaces`},
		{"name too long", map[string]string{AnnotationSecretPrefix + strings.Repeat("n", 64): "r"},
			`annotation secrets.tradepulse.io/secret-` + strings.Repeat("n", 64) + `: is not a valid annotation key (A-Z, a-z, 0-9, '.', '_', '-', at most 63 characters after the prefix)`},
		{"containers empty element", map[string]string{AnnotationContainers: "app,,worker"},
			`annotation secrets.tradepulse.io/containers: has an empty name; write names separated by single commas, e.g. "app,worker"`},
		{"containers duplicate", map[string]string{AnnotationContainers: "app, app"},
			`annotation secrets.tradepulse.io/containers: "app" is listed twice`},
		{"containers bad name", map[string]string{AnnotationContainers: "App"},
			`annotation secrets.tradepulse.io/containers: "App" is not a container name (a DNS-1123 label)`},
		{"owner with negative gid", map[string]string{AnnotationOwner: "1000:-1"},
			`annotation secrets.tradepulse.io/owner: "1000:-1" must be numeric uid:gid such as "10001:10001"`},
		{"invalid UTF-8", map[string]string{AnnotationSecretPrefix + "api-key": "a\xffb"},
			`annotation secrets.tradepulse.io/secret-api-key: the value is not valid UTF-8`},
		{"key Kubernetes would refuse", map[string]string{Prefix + "secret-a b": "r"},
			`annotation "secrets.tradepulse.io/secret-a b": is not a valid annotation key (A-Z, a-z, 0-9, '.', '_', '-', at most 63 characters after the prefix)`},
		{"unknown key with no near match", map[string]string{Prefix + "colour": "blue"},
			`annotation secrets.tradepulse.io/colour: unknown key; ANNOTATIONS.md lists the keys under secrets.tradepulse.io/`},
		{"long values are cut short", map[string]string{AnnotationMode: long},
			`annotation secrets.tradepulse.io/mode: "` + long[:64] + `"… is not one of init+sidecar, init, sidecar`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ann := validAnnotations()
			maps.Copy(ann, tt.set)
			spec, err := Parse(ann, testOptions())
			if err == nil {
				t.Fatalf("accepted: %+v", spec)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("denial (-want +got):\n%s", diff)
			}
		})
	}
}

// manySecrets declares n secrets, api-key among them.
func manySecrets(n int) map[string]string {
	ann := map[string]string{}
	for i := range n - 1 {
		ann[fmt.Sprintf("%ss%03d", AnnotationSecretPrefix, i)] = "ref"
	}
	return ann
}

// TestClusterLimitsAreOptions: the minimum interval and the secrets cap are
// the cluster's to set.
func TestClusterLimitsAreOptions(t *testing.T) {
	opts := testOptions()
	opts.MinRefreshInterval = 5 * time.Second
	opts.MaxSecrets = 2
	ann := validAnnotations()
	ann[AnnotationRefreshInterval] = "5s"
	if _, err := Parse(ann, opts); err != nil {
		t.Errorf("5s with a 5s minimum: %v", err)
	}
	maps.Copy(ann, manySecrets(3))
	want := "annotation secrets.tradepulse.io/secret-*: the pod declares 3 secrets; this cluster allows at most 2 per pod"
	if _, err := Parse(ann, opts); err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

// TestParseAccepts checks what valid annotations turn into.
func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]string
		check func(t *testing.T, s *Spec)
	}{
		{"defaults", nil, func(t *testing.T, s *Spec) {
			want := &Spec{
				Config: &config.Config{
					Version:         config.APIVersion,
					Backend:         config.Backend{Type: "gcp", GCP: &config.GCPBackend{Project: "tradepulse-prod"}},
					MountPath:       "/secrets",
					RefreshInterval: config.Duration(5 * time.Minute),
					InitTimeout:     config.DefaultInitTimeout,
					Secrets: []config.Secret{{Name: "api-key", Ref: "exchanges-binance-api-key", Format: "raw",
						Mode: 0o400, RefreshInterval: config.Duration(5 * time.Minute)}},
					Notify:      config.Notify{Debounce: config.DefaultDebounce},
					AdminAddr:   "127.0.0.1:9101",
					MetricsAddr: ":9102",
				},
				Mode:      ModeInitSidecar,
				Reload:    ReloadNone,
				Image:     "ghcr.io/tradepulse/secret-injector:v0.1.0",
				Resources: DefaultResources(),
			}
			if diff := cmp.Diff(want, s, cmpopts.IgnoreUnexported(Spec{})); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		}},
		{"https reload on [::1]", map[string]string{AnnotationReload: "https://[::1]:8443/reload"}, func(t *testing.T, s *Spec) {
			if got := s.Config.Notify; got.URL != "https://[::1]:8443/reload" || got.Method != "POST" || s.Reload != "http" {
				t.Errorf("notify = %+v, reload = %q", got, s.Reload)
			}
		}},
		{"status injected is ours", map[string]string{AnnotationStatus: StatusInjected}, nil},
		{"fields with spaces", map[string]string{AnnotationFormatPrefix + "api-key": "json", AnnotationFieldsPrefix + "api-key": " ca = ca.crt , key=tls/key.pem "},
			func(t *testing.T, s *Spec) {
				want := map[string]string{"ca": "ca.crt", "key": "tls/key.pem"}
				if diff := cmp.Diff(want, s.Config.Secrets[0].Fields); diff != "" {
					t.Errorf("fields (-want +got):\n%s", diff)
				}
			}},
		{"vault-address equal to the default", map[string]string{AnnotationBackend: "vault", AnnotationVaultRole: "r", AnnotationVaultAddress: "https://vault.vault.svc:8200"}, nil},
		{"interval at the cluster's minimum", map[string]string{AnnotationRefreshInterval: "30s", AnnotationRefreshIntervalPrefix + "api-key": "0.5m"}, nil},
		{"as many secrets as the cluster allows", manySecrets(DefaultMaxSecrets), func(t *testing.T, s *Spec) {
			if len(s.Config.Secrets) != DefaultMaxSecrets {
				t.Errorf("%d secrets, want %d", len(s.Config.Secrets), DefaultMaxSecrets)
			}
		}},
		{"owner gid 0", map[string]string{AnnotationOwner: "1000:0"}, func(t *testing.T, s *Spec) {
			if diff := cmp.Diff(&config.Owner{UID: 1000, GID: 0}, s.Config.Owner); diff != "" {
				t.Errorf("owner (-want +got):\n%s", diff)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ann := validAnnotations()
			maps.Copy(ann, tt.set)
			spec, err := Parse(ann, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			if err := spec.Config.Validate(); err != nil {
				t.Fatalf("config does not validate: %v", err)
			}
			if tt.check != nil {
				tt.check(t, spec)
			}
		})
	}
}

func TestParseNotOptedIn(t *testing.T) {
	for name, ann := range map[string]map[string]string{
		"nil":          nil,
		"no inject":    {AnnotationMode: "bogus"},
		"inject false": {AnnotationInject: "false", AnnotationMode: "bogus"},
	} {
		t.Run(name, func(t *testing.T) {
			spec, err := Parse(ann, testOptions())
			if spec != nil || err != nil {
				t.Errorf("Parse = %v, %v; want nil, nil", spec, err)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	for key, want := range map[string]string{
		Prefix + "secert-api-key":    Prefix + "secret-api-key",
		Prefix + "fromat-x":          Prefix + "format-x",
		Prefix + "filemode-x":        Prefix + "file-mode-x",
		Prefix + "vault_role":        Prefix + "vault-role",
		Prefix + "mountpath":         Prefix + "mount-path",
		Prefix + "injcet":            Prefix + "inject",
		Prefix + "something-else":    "",
		Prefix + "refresh-intervals": Prefix + "refresh-interval",
	} {
		if got := suggest(key); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(o *Options)
		want  string
	}{
		{"valid", func(o *Options) {}, ""},
		{"zero", func(o *Options) { *o = Options{} },
			"injector options: default backend \"\" is not one of gcp, vault, aws, env\ndefault backend \"\" is not enabled\nagent image: must not be empty"},
		{"default not enabled", func(o *Options) { o.EnabledBackends = []string{"vault"} },
			"injector options: default backend \"gcp\" is not enabled"},
		{"request above limit", func(o *Options) {
			o.Resources = DefaultResources()
			o.Resources.Limits["cpu"] = o.Resources.Requests["cpu"]
			o.Resources.Requests["memory"] = o.Resources.Limits["memory"]
			o.Resources.Limits["memory"] = minAgentMemoryLimit
		},
			"injector options: agent resources: the memory request is above its limit"},
		{"bad allowed vault address", func(o *Options) { o.Vault.AllowedAddresses = []string{"vault:8200"} },
			"injector options: allowed vault address \"vault:8200\": \"vault:8200\" must be an http(s) URL such as \"https://vault.vault.svc:8200\""},
		{"negative uid", func(o *Options) { o.AgentUID = -1 },
			"injector options: agent uid -1: must be a non-root uid"},
		{"default interval below the minimum", func(o *Options) { o.RefreshInterval = 10 * time.Second },
			"injector options: refresh interval 10s is below the minimum refresh interval 30s"},
		{"minimum interval below 1s", func(o *Options) { o.MinRefreshInterval = time.Millisecond; o.RefreshInterval = time.Second },
			"injector options: minimum refresh interval 1ms is below 1s, the agent's minimum"},
		{"negative secrets cap", func(o *Options) { o.MaxSecrets = -1 },
			"injector options: max secrets per pod -1 must be positive"},
		{"host network allowed", func(o *Options) { o.AllowHostNetwork = true },
			"injector options: allowing hostNetwork pods is not supported yet: their agent's admin API would need a credential and per-pod ports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions()
			tt.tweak(&o)
			got := ""
			if err := o.Validate(); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLargeAnnotations: a pod stuffed with keys (as many as a valid pod
// may have) and fields gets a bounded denial, in linear time. Pods beyond
// the caps: TestHugePodsCostLittle.
func TestLargeAnnotations(t *testing.T) {
	ann := validAnnotations()
	for i := range maxOurKeys(testOptions().withDefaults()) - 4 {
		ann[fmt.Sprintf("%ss-e-c-r-e-t-%s-%d", Prefix, strings.Repeat("x-", 20), i)] = "v"
	}
	var fields []string
	for i := range 5000 {
		fields = append(fields, fmt.Sprintf("f%d=d%d/f", i, i))
	}
	ann[AnnotationFormatPrefix+"api-key"] = "json"
	ann[AnnotationFieldsPrefix+"api-key"] = strings.Join(fields, ",")
	_, err := Parse(ann, testOptions())
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxProblems+1 {
		t.Fatalf("denial has %d lines, want %d", len(lines), maxProblems+1)
	}
	// Every unknown key is a problem; all but maxProblems are not shown.
	hidden := maxOurKeys(testOptions().withDefaults()) - 4 - maxProblems
	if want := fmt.Sprintf("annotation secrets.tradepulse.io/*: %d more problems not shown; fix the ones above first", hidden); lines[maxProblems] != want {
		t.Errorf("last line = %q, want %q", lines[maxProblems], want)
	}
}

// TestConfigSizeLimit: a config too big for its environment variable is
// denied at admission, not by the kernel at exec.
func TestConfigSizeLimit(t *testing.T) {
	ann := validAnnotations()
	ann[AnnotationFormatPrefix+"api-key"] = "template"
	ann[AnnotationTemplatePrefix+"api-key"] = strings.Repeat("{{ .Data.x }}\n", maxConfigBytes/14+1)
	_, err := Parse(ann, testOptions())
	want := "annotation secrets.tradepulse.io/*: the agent config they make is "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %v, want one starting %q", err, want)
	}
}

// TestConfigProblemsNameTheirAnnotation: the agent's validation runs once
// over the whole config, and each problem it finds (by field path) names
// the annotation the field came from: the secret's own key where the pod
// sets it, else the pod-level key its value was inherited from.
func TestConfigProblemsNameTheirAnnotation(t *testing.T) {
	ann := map[string]string{
		AnnotationInject:                       "true",
		AnnotationSecretPrefix + "db":          "r",
		AnnotationRefreshIntervalPrefix + "db": "500ms",
		AnnotationSecretPrefix + "api":         "r",
		AnnotationFormatPrefix + "api":         "env",
		AnnotationFieldsPrefix + "api":         "k=1X",
		AnnotationSecretPrefix + "web":         "pki/issue/web",
		AnnotationCertTTLPrefix + "web":        "24h",
		AnnotationReload:                       "signal:SIGKILL:app",
	}
	c := &config.Config{
		Version:         config.APIVersion,
		Backend:         config.Backend{Type: config.BackendGCP},
		RefreshInterval: config.Duration(100 * time.Millisecond),
		Notify:          config.Notify{Signal: "SIGKILL", Process: "app"},
		Secrets: []config.Secret{
			{Name: "db", Ref: "r", RefreshInterval: config.Duration(500 * time.Millisecond)},
			{Name: "api", Ref: "r", Format: config.FormatEnv, Fields: map[string]string{"k": "1X"}},
			{Name: "web", Ref: "pki/issue/web", Certificate: &config.Certificate{TTL: config.Duration(24 * time.Hour)}},
		},
	}
	c.Normalize(nil)
	p := &parser{ann: ann}
	p.validateConfig(c)
	var got []string
	for _, e := range p.probs {
		got = append(got, e.Key)
	}
	want := []string{
		AnnotationRefreshInterval,              // refreshInterval
		AnnotationReload,                       // notify.signal
		AnnotationRefreshIntervalPrefix + "db", // secrets[0].refreshInterval
		AnnotationFieldsPrefix + "api",         // secrets[1].fields[k]
		AnnotationRefreshInterval,              // secrets[1].refreshInterval, inherited
		AnnotationRefreshInterval,              // secrets[2].refreshInterval, inherited
		AnnotationCertTTLPrefix + "web",        // secrets[2].certificate: backend gcp
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	line := "annotation secrets.tradepulse.io/refresh-interval-db: the agent config it makes is invalid: secrets[0].refreshInterval: 500ms is below the 1s minimum"
	if err := p.probs.err(); err == nil || !strings.Contains(err.Error(), line) {
		t.Errorf("denial %v; want the line %q", err, line)
	}
}
