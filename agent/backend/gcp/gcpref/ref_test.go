package gcp

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSecretID(t *testing.T) {
	tests := []struct {
		name, path, want, err string
	}{
		{"exchange key", "tradepulse/exchanges/binance/api-key", "tradepulse--exchanges--binance--api-key", ""},
		{"json secret", "tradepulse/postgres-tls", "tradepulse--postgres-tls", ""},
		{"one element", "mlflow", "mlflow", ""},
		{"underscores and capitals", "Trade_Pulse/API_key", "Trade_Pulse--API_key", ""},
		{"single dashes", "a-b/c-d-e", "a-b--c-d-e", ""},
		{"empty", "", "", "must not be empty"},
		{"leading slash", "/tradepulse/x", "", "empty path element"},
		{"trailing slash", "tradepulse/x/", "", "empty path element"},
		{"double dash", "tradepulse/api--key", "", `must not contain "--"`},
		{"leading dash", "tradepulse/-key", "", "start or end with '-'"},
		{"trailing dash", "tradepulse-/key", "", "start or end with '-'"},
		{"dot", "tradepulse/ca.crt", "", "may hold only"},
		{"space", "trade pulse/key", "", "may hold only"},
		{"non-ASCII", "tradepulse/clé", "", "may hold only"},
		{"too long", strings.Repeat("abcd/", 51) + "abcd", "", "longer than 255"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SecretID(tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.path) {
					t.Fatalf("SecretID(%q) = %q, %v; want an error naming the path and saying %q", tc.path, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("SecretID(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
			}
			if back, ok := PathFromID(got); !ok || back != tc.path {
				t.Errorf("PathFromID(%q) = %q, %v; want %q", got, back, ok, tc.path)
			}
		})
	}
}

func TestPathFromIDRejectsIDsNoPathMapsTo(t *testing.T) {
	for _, id := range []string{"", "a---b", "-a", "a-", "a--", "--a", "a----b", "a.b", "a/b", strings.Repeat("a", 256)} {
		if p, ok := PathFromID(id); ok {
			t.Errorf("PathFromID(%q) = %q, true; want false", id, p)
		}
	}
}

func FuzzSecretID(f *testing.F) {
	for _, s := range []string{"tradepulse/exchanges/binance/api-key", "a--b", "a/-b", "x", "", "a//b", "A_b/c-d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		id, err := SecretID(path)
		if err != nil {
			return
		}
		if !validSecretID(id) {
			t.Fatalf("SecretID(%q) = %q, not a valid secret ID", path, id)
		}
		if back, ok := PathFromID(id); !ok || back != path {
			t.Fatalf("PathFromID(SecretID(%q)) = %q, %v", path, back, ok)
		}
	})
}

func FuzzPathFromID(f *testing.F) {
	for _, s := range []string{"tradepulse--postgres-tls", "a---b", "-a", "x", "", "a----b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		path, ok := PathFromID(id)
		if !ok {
			return
		}
		if back, err := SecretID(path); err != nil || back != id {
			t.Fatalf("SecretID(PathFromID(%q)) = %q, %v", id, back, err)
		}
	})
}

func TestResolve(t *testing.T) {
	const p = "projects/tp/secrets/"
	tests := []struct {
		name, ref, project string
		want               target
	}{
		{"runbook path", "tradepulse/postgres-tls", "tp", target{p + "tradepulse--postgres-tls", p + "tradepulse--postgres-tls/versions/latest"}},
		{"pinned path", "tradepulse/postgres-tls@12", "tp", target{p + "tradepulse--postgres-tls", p + "tradepulse--postgres-tls/versions/12"}},
		{"alias", "tradepulse/postgres-tls@prod", "tp", target{p + "tradepulse--postgres-tls", p + "tradepulse--postgres-tls/versions/prod"}},
		{"plain ID", "my-Secret_1", "tp", target{p + "my-Secret_1", p + "my-Secret_1/versions/latest"}},
		{"ID that no path maps to", "-odd--id-", "tp", target{p + "-odd--id-", p + "-odd--id-/versions/latest"}},
		{"full name", "projects/other/secrets/s", "", target{"projects/other/secrets/s", "projects/other/secrets/s/versions/latest"}},
		{"full version", "projects/123456/secrets/s/versions/4", "tp", target{"projects/123456/secrets/s", "projects/123456/secrets/s/versions/4"}},
		{"domain-scoped project", "projects/example.com:tp/secrets/s", "", target{"projects/example.com:tp/secrets/s", "projects/example.com:tp/secrets/s/versions/latest"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolve(tc.ref, tc.project)
			if err != nil {
				t.Fatalf("resolve(%q): %v", tc.ref, err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(target{})); diff != "" {
				t.Errorf("resolve(%q) (-want +got):\n%s", tc.ref, diff)
			}
		})
	}
}

func FuzzResolve(f *testing.F) {
	for _, s := range []string{"tradepulse/x@3", "projects/p/secrets/s/versions/latest", "s@", "projects/p/locations/l/secrets/s", "a@b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		got, err := resolve(ref, "tp")
		if err != nil {
			return
		}
		project, id, ok := strings.Cut(strings.TrimPrefix(got.secret, "projects/"), "/secrets/")
		if !strings.HasPrefix(got.secret, "projects/") || !ok || checkProject(project) != nil || !validSecretID(id) {
			t.Fatalf("resolve(%q) gave secret %q", ref, got.secret)
		}
		v, ok := strings.CutPrefix(got.version, got.secret+"/versions/")
		if !ok || !validVersion(v) {
			t.Fatalf("resolve(%q) gave version %q", ref, got.version)
		}
	})
}
