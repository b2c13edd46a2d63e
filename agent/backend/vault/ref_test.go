package vault

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		name    string
		ref     string
		want    reference
		wantErr bool
	}{
		{name: "kv path", ref: "secret/tradepulse/postgres-tls", want: reference{path: "secret/tradepulse/postgres-tls"}},
		{name: "field", ref: "secret/tradepulse/exchanges/x#api-key", want: reference{path: "secret/tradepulse/exchanges/x", field: "api-key"}},
		{name: "database creds", ref: "database/creds/app", want: reference{path: "database/creds/app"}},
		{name: "leading and trailing slash", ref: "/secret/x/", want: reference{path: "secret/x"}},
		{name: "field with dots", ref: "secret/x#tls.crt", want: reference{path: "secret/x", field: "tls.crt"}},
		{name: "empty", ref: "", wantErr: true},
		{name: "only a field", ref: "#f", wantErr: true},
		{name: "empty field", ref: "secret/x#", wantErr: true},
		{name: "two fields", ref: "secret/x#a#b", wantErr: true},
		{name: "dot-dot", ref: "secret/../sys/x", wantErr: true},
		{name: "dot", ref: "secret/./x", wantErr: true},
		{name: "empty element", ref: "secret//x", wantErr: true},
		{name: "query", ref: "secret/x?version=1", wantErr: true},
		{name: "escape", ref: "secret/%2e%2e/x", wantErr: true},
		{name: "control character", ref: "secret/x\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRef(tc.ref)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseRef(%q) error = %v, want error %v", tc.ref, err, tc.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(reference{})); diff != "" {
					t.Errorf("parseRef(%q) (-want +got):\n%s", tc.ref, diff)
				}
			}
		})
	}
}

func TestMountCacheLongestPrefix(t *testing.T) {
	var c mountCache
	c.add(mount{path: "team/", kind: "kv", kvVersion: 1})
	c.add(mount{path: "team/kv2/", kind: "kv", kvVersion: 2})
	tests := []struct {
		path  string
		want  string
		found bool
	}{
		{path: "team/kv2/x", want: "team/kv2/", found: true},
		{path: "team/kv2", want: "team/kv2/", found: true},
		{path: "team/other", want: "team/", found: true},
		{path: "teams/x", found: false},
	}
	for _, tc := range tests {
		m, ok := c.find(tc.path)
		if ok != tc.found || m.path != tc.want {
			t.Errorf("find(%q) = %q, %v; want %q, %v", tc.path, m.path, ok, tc.want, tc.found)
		}
	}
}

// TestClassify: the sentinel each status maps to, and no response body in
// the message, even when Vault's errors echo a value.
func TestClassify(t *testing.T) {
	tests := []struct {
		code       int
		want       error
		failsClose bool
	}{
		{code: 400, want: backend.ErrNotFound, failsClose: true},
		{code: 401, want: backend.ErrDenied, failsClose: true},
		{code: 403, want: backend.ErrDenied, failsClose: true},
		{code: 404, want: backend.ErrNotFound, failsClose: true},
		{code: 412, failsClose: false},
		{code: 429, failsClose: false},
		{code: 500, failsClose: false},
		{code: 502, failsClose: false},
		{code: 503, failsClose: false},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			body := &api.ResponseError{
				HTTPMethod: "GET", URL: "http://vault/v1/secret/data/x", StatusCode: tc.code,
				Errors: []string{"value was " + backendtest.Sentinel}, RawError: tc.code == 502,
			}
			err := classify("secret/x", body)
			if backend.FailsClosed(err) != tc.failsClose || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("classify(%d) = %v; want %v, fails closed %v", tc.code, err, tc.want, tc.failsClose)
			}
			for _, e := range []error{err, redact(body), loginError(authenticator{method: "approle", path: "auth/approle"}, body), classifyLease(body)} {
				if strings.Contains(e.Error(), backendtest.Sentinel) {
					t.Errorf("error holds the response body: %v", e)
				}
			}
			if !strings.Contains(err.Error(), "secret/x") {
				t.Errorf("error %q does not name the reference", err)
			}
		})
	}
}

func TestSelectField(t *testing.T) {
	data := map[string]any{
		"s":   "raw <&> value\n",
		"n":   json.Number("5432"),
		"b":   true,
		"obj": map[string]any{"z": "1", "a": "2"},
		"nil": nil,
	}
	tests := []struct {
		field   string
		want    string
		wantErr error
	}{
		{field: "", want: `{"b":true,"n":5432,"nil":null,"obj":{"a":"2","z":"1"},"s":"raw <&> value\n"}`},
		{field: "s", want: "raw <&> value\n"},
		{field: "n", want: "5432"},
		{field: "b", want: "true"},
		{field: "obj", want: `{"a":"2","z":"1"}`},
		{field: "nil", want: "null"},
		{field: "missing", wantErr: backend.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run("field "+tc.field, func(t *testing.T) {
			got, err := selectField("secret/x", data, tc.field)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("selectField(%q) error %v, want %v", tc.field, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("selectField(%q) (-want +got):\n%s", tc.field, diff)
			}
		})
	}
}

func TestAuthPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "auth/kubernetes",
		"kubernetes":        "auth/kubernetes",
		"auth/kubernetes":   "auth/kubernetes",
		"/auth/k8s-prod/":   "auth/k8s-prod",
		"clusters/eu-west1": "auth/clusters/eu-west1",
	} {
		if got := authPath(in, "kubernetes"); got != want {
			t.Errorf("authPath(%q) = %q, want %q", in, got, want)
		}
	}
}
