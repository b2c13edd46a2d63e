package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const valid = `{"version":"secrets.tradepulse.io/v1","secrets":[
 {"name":"postgres-tls","ref":"tradepulse/postgres-tls","format":"json","fields":{"ca":"ca.crt","cert":"tls.crt","key":"tls.key"}},
 {"name":"api-key","ref":"tradepulse/exchanges/binance/api-key","mode":"0440","refreshInterval":"30s"}]}`

func TestParseAppliesDefaultsAndSecretBackend(t *testing.T) {
	c, err := Parse([]byte(valid), func(k string) string {
		if k == BackendEnvVar {
			return "gcp"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Version: APIVersion, Backend: Backend{Type: "gcp"}, MountPath: DefaultMountPath,
		RefreshInterval: DefaultRefreshInterval, InitTimeout: DefaultInitTimeout,
		AdminAddr: DefaultAdminAddr, MetricsAddr: DefaultMetricsAddr, Notify: Notify{Debounce: DefaultDebounce},
		Secrets: []Secret{
			{Name: "postgres-tls", Ref: "tradepulse/postgres-tls", Format: FormatJSON,
				Fields: map[string]string{"ca": "ca.crt", "cert": "tls.crt", "key": "tls.key"},
				Mode:   DefaultFileMode, RefreshInterval: DefaultRefreshInterval},
			{Name: "api-key", Ref: "tradepulse/exchanges/binance/api-key", Format: FormatRaw,
				Mode: 0o440, RefreshInterval: Duration(30 * time.Second)},
		},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("Parse (-want +got):\n%s", diff)
	}
	if c2, _ := Parse([]byte(valid), nil); c2.Backend.Type != BackendEnv {
		t.Errorf("unset SECRET_BACKEND gave %q, want env", c2.Backend.Type)
	}
}

func TestEncodeRoundTrips(t *testing.T) {
	c, err := Parse([]byte(valid), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse([]byte(s), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, back); diff != "" {
		t.Fatalf("round trip (-before +after):\n%s", diff)
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       []string
	}{
		{"unknown field", `{"version":"secrets.tradepulse.io/v1","secrets":[{"name":"a","ref":"r","fromat":"raw"}]}`,
			[]string{`unknown field "fromat"`}},
		{"wrong version", `{"version":"v0","secrets":[{"name":"a","ref":"r"}]}`, []string{`version: "v0" is not supported`}},
		{"no secrets", `{"version":"secrets.tradepulse.io/v1","secrets":[]}`, []string{"at least one secret"}},
		{"traversal and bad format at once", `{"version":"secrets.tradepulse.io/v1","secrets":[
			{"name":"../etc","ref":"r"},{"name":"b","ref":"r","format":"yaml"}]}`,
			[]string{`secrets[0].name: "../etc" must not contain ".."`, `secrets[1].format: "yaml" is not one of`}},
		{"field rename escapes", `{"version":"secrets.tradepulse.io/v1","secrets":[{"name":"t","ref":"r","format":"json","fields":{"k":"../../x"}}]}`,
			[]string{`secrets[0].fields[k]: path "../../x" must not contain ".."`}},
		{"world-writable", `{"version":"secrets.tradepulse.io/v1","secrets":[{"name":"a","ref":"r","mode":"0666"}]}`,
			[]string{"world-writable"}},
		{"notify url off host", `{"version":"secrets.tradepulse.io/v1","notify":{"url":"http://10.0.0.1/reload"},"secrets":[{"name":"a","ref":"r"}]}`,
			[]string{"notify.url", "must be on localhost"}},
		{"bad duration", `{"version":"secrets.tradepulse.io/v1","refreshInterval":"soon","secrets":[{"name":"a","ref":"r"}]}`,
			[]string{`duration "soon"`}},
		{"template without body", `{"version":"secrets.tradepulse.io/v1","secrets":[{"name":"a","ref":"r","format":"template"}]}`,
			[]string{"template: required with format template"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json), nil)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestValidatePath(t *testing.T) {
	for p, ok := range map[string]bool{
		"api-key": true, "postgres-tls/tls.crt": true, ".agent-state.json": true,
		"": false, "/etc/passwd": false, "a/../b": false, "..data": false, "a//b": false, "./a": false,
		"a b": false, strings.Repeat("a", MaxPathLength+1): false,
	} {
		if err := ValidatePath(p); (err == nil) != ok {
			t.Errorf("ValidatePath(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

func TestValidateLocalURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"http://127.0.0.1:8080/-/reload": true, "http://localhost/reload": true, "https://[::1]:9000/r": true,
		"http://127.0.0.1.evil.com/": false, "http://user@127.0.0.1/": false, "ftp://127.0.0.1/": false,
		"http://169.254.169.254/latest": false, "http://[::1/": false, "http://localhost:x/": false,
	} {
		if err := ValidateLocalURL(u); (err == nil) != ok {
			t.Errorf("ValidateLocalURL(%q) = %v, want ok=%v", u, err, ok)
		}
	}
}

// FuzzParse: any input either fails with an error or yields a config that
// validates, whose paths stay relative, and that round-trips.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte(`{"version":"secrets.tradepulse.io/v1","secrets":[{"name":"a","ref":"r","format":"env","fields":{"A":"B"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, nil)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
		for _, s := range c.Secrets {
			if ValidateName(s.Name) != nil {
				t.Fatalf("accepted bad name %q", s.Name)
			}
		}
		enc, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse([]byte(enc), nil)
		if err != nil {
			t.Fatalf("re-parse of encoded config: %v", err)
		}
		// An empty map encodes as nothing: equal in meaning.
		if diff := cmp.Diff(c, back, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip:\n%s", diff)
		}
	})
}

// TestCheckPaths: each problem carries the path of its field, apart from
// its detail, so that the injector can name the annotation it came from.
func TestCheckPaths(t *testing.T) {
	c := &Config{
		Version: APIVersion,
		Backend: Backend{Type: BackendVault},
		Notify:  Notify{Signal: "SIGKILL"},
		Secrets: []Secret{
			{Name: "db", Ref: "r", RefreshInterval: Duration(500 * time.Millisecond)},
			{Name: "db", Ref: "r", Format: FormatEnv, Fields: map[string]string{"k": "1X"}},
			{Name: "web", Ref: "pki/issue/web", Format: FormatJSON, Certificate: &Certificate{AltNames: []string{"ok.test", "-x"}}},
		},
	}
	c.Normalize(nil)
	var got []string
	for _, e := range c.Check() {
		got = append(got, e.Path)
	}
	want := []string{"notify.signal", "notify.process", "secrets[0].refreshInterval", "secrets[1].name",
		"secrets[1].fields[k]", "secrets[2].certificate.altNames[1]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	err := c.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "notify.signal" ||
		fe.Detail != `"SIGKILL" is not one of SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT` {
		t.Errorf("Validate() = %v; want the first *FieldError, notify.signal", err)
	}
	if want := "secrets[0].refreshInterval: 500ms is below the 1s minimum"; !strings.Contains(err.Error(), want) {
		t.Errorf("Validate() = %v; want a line %q", err, want)
	}
}
