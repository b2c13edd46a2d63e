package gcpref

import (
	"errors"
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
		if !ValidSecretID(id) {
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

func TestParse(t *testing.T) {
	tests := []struct {
		name, ref, project string
		want               Name
		secret, version    string
	}{
		{"runbook path", "tradepulse/postgres-tls", "tp", Name{"tp", "", "tradepulse--postgres-tls", "latest"},
			"projects/tp/secrets/tradepulse--postgres-tls", "projects/tp/secrets/tradepulse--postgres-tls/versions/latest"},
		{"pinned path", "tradepulse/postgres-tls@12", "tp", Name{"tp", "", "tradepulse--postgres-tls", "12"},
			"projects/tp/secrets/tradepulse--postgres-tls", "projects/tp/secrets/tradepulse--postgres-tls/versions/12"},
		{"alias", "tradepulse/postgres-tls@prod", "tp", Name{"tp", "", "tradepulse--postgres-tls", "prod"},
			"projects/tp/secrets/tradepulse--postgres-tls", "projects/tp/secrets/tradepulse--postgres-tls/versions/prod"},
		{"plain ID", "my-Secret_1", "tp", Name{"tp", "", "my-Secret_1", "latest"},
			"projects/tp/secrets/my-Secret_1", "projects/tp/secrets/my-Secret_1/versions/latest"},
		{"ID that no path maps to", "-odd--id-", "tp", Name{"tp", "", "-odd--id-", "latest"},
			"projects/tp/secrets/-odd--id-", "projects/tp/secrets/-odd--id-/versions/latest"},
		{"full name", "projects/other/secrets/s", "", Name{"other", "", "s", "latest"},
			"projects/other/secrets/s", "projects/other/secrets/s/versions/latest"},
		{"full version", "projects/123456/secrets/s/versions/4", "tp", Name{"123456", "", "s", "4"},
			"projects/123456/secrets/s", "projects/123456/secrets/s/versions/4"},
		{"domain-scoped project", "projects/example.com:tp/secrets/s", "", Name{"example.com:tp", "", "s", "latest"},
			"projects/example.com:tp/secrets/s", "projects/example.com:tp/secrets/s/versions/latest"},
		{"regional", "projects/tp/locations/europe-west4/secrets/tradepulse--mlflow", "", Name{"tp", "europe-west4", "tradepulse--mlflow", "latest"},
			"projects/tp/locations/europe-west4/secrets/tradepulse--mlflow", "projects/tp/locations/europe-west4/secrets/tradepulse--mlflow/versions/latest"},
		{"regional version", "projects/tp/locations/northamerica-northeast1/secrets/s/versions/3", "other", Name{"tp", "northamerica-northeast1", "s", "3"},
			"projects/tp/locations/northamerica-northeast1/secrets/s", "projects/tp/locations/northamerica-northeast1/secrets/s/versions/3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.ref, tc.project)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.ref, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tc.ref, diff)
			}
			if diff := cmp.Diff([]string{tc.secret, tc.version}, []string{got.SecretName(), got.VersionName()}); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseErrors: a malformed reference says what is wrong with it.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, ref, project, want string
	}{
		{"empty", "", "tp", "must be non-empty"},
		{"spaces", " s", "tp", "no surrounding spaces"},
		{"short name without a project", "tradepulse/x", "", "is a short secret name, which needs a project"},
		{"bad version", "s@v.1", "tp", `version "v.1" after '@'`},
		{"zero version", "projects/p/secrets/s/versions/0", "", `version "0" must be`},
		{"bad project", "projects/Tp/secrets/s", "", `project "Tp" may hold only`},
		{"bad ID", "projects/p/secrets/a.b", "", `secret ID "a.b" may hold only`},
		{"no secret", "projects/p", "", "a full name must be projects/P/secrets/S[/versions/V] or, for a regional secret, projects/P/locations/L/secrets/S[/versions/V]"},
		{"regional without secret", "projects/p/locations/europe-west4", "", "a full name must be"},
		{"regional, versions misspelt", "projects/p/locations/europe-west4/secrets/s/version/1", "", "a full name must be"},
		{"regional, trailing slash", "projects/p/locations/europe-west4/secrets/s/", "", "a full name must be"},
		{"location with capitals", "projects/p/locations/Europe-West4/secrets/s", "", `location "Europe-West4" is not a region such as "europe-west4"`},
		{"multi-region", "projects/p/locations/us/secrets/s", "", `location "us" is not a region`},
		{"global", "projects/p/locations/global/secrets/s", "", `location "global" is not a region`},
		{"zone", "projects/p/locations/europe-west4-a/secrets/s", "", `location "europe-west4-a" is not a region`},
		{"location with a dot", "projects/p/locations/eu.west4/secrets/s", "", `location "eu.west4" is not a region`},
		{"empty location", "projects/p/locations//secrets/s", "", `location is not a region`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.ref, tc.project)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%q) = %+v, %v; want an error saying %q", tc.ref, got, err, tc.want)
			}
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("Parse(%q) error %T is not an *Error", tc.ref, err)
			}
			if r := e.Redacted(); e.Value != "" && strings.Contains(r, e.Value) || !strings.HasPrefix(r, "the "+e.Part+" ") {
				t.Errorf("Redacted() = %q shows the part %q", r, e.Value)
			}
		})
	}
}

func TestCheckLocation(t *testing.T) {
	for _, l := range []string{"europe-west4", "us-central1", "me-central2", "northamerica-northeast1", "europe-west12", "africa-south1", "us-east4"} {
		if err := CheckLocation(l); err != nil {
			t.Errorf("CheckLocation(%q): %v", l, err)
		}
	}
	for _, l := range []string{"", "us", "eu", "global", "europe", "europe-west", "west4", "europe-west4-b", "europe-west123", "-west4", "europe--west4", "europe-west4 ", strings.Repeat("a-", 31) + "b1"} {
		if err := CheckLocation(l); err == nil {
			t.Errorf("CheckLocation(%q) accepted it", l)
		}
	}
}

func TestEndpoint(t *testing.T) {
	if got, want := Endpoint("europe-west4"), "secretmanager.europe-west4.rep.googleapis.com:443"; got != want {
		t.Errorf("Endpoint = %q, want %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"tradepulse/x@3", "projects/p/secrets/s/versions/latest", "s@", "projects/p/locations/l/secrets/s",
		"projects/p/locations/europe-west4/secrets/s/versions/2", "a@b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		got, err := Parse(ref, "tp")
		if err != nil {
			return
		}
		if CheckProject(got.Project) != nil || !ValidSecretID(got.Secret) || !ValidVersion(got.Version) ||
			got.Location != "" && CheckLocation(got.Location) != nil {
			t.Fatalf("Parse(%q) = %+v", ref, got)
		}
		// A full name parses back to itself.
		again, err := Parse(got.VersionName(), "")
		if err != nil || again != got {
			t.Fatalf("Parse(%q) = %+v, %v; want %+v", got.VersionName(), again, err, got)
		}
	})
}
