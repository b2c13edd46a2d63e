package injector

import (
	"maps"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGCPReferences: with backend gcp, a reference is checked at admission
// by the grammar the agent resolves (gcpref): global and regional full
// names and short names are admitted as written; a reference the agent
// could never resolve is denied, naming the key and what is wrong, never
// the reference itself.
func TestGCPReferences(t *testing.T) {
	const key = "annotation secrets.tradepulse.io/secret-api-key: "
	tests := []struct {
		name, ref, project, want string
	}{
		{"runbook path", "tradepulse/exchanges/binance/api-key", "tradepulse-prod", ""},
		{"pinned", "tradepulse/postgres-tls@3", "tradepulse-prod", ""},
		{"global full name", "projects/tradepulse-prod/secrets/tradepulse--mlflow", "", ""},
		{"regional", "projects/tradepulse-prod/locations/europe-west4/secrets/tradepulse--mlflow", "", ""},
		{"regional version", "projects/123456789/locations/us-central1/secrets/tradepulse--mlflow/versions/7", "tradepulse-prod", ""},
		{"regional, multi-region", "projects/tradepulse-prod/locations/eu/secrets/s", "",
			key + `is not a Secret Manager reference: the location is not a region such as "europe-west4" (regional secrets live in one region)`},
		{"regional, no secret", "projects/tradepulse-prod/locations/europe-west4/sekrets/s", "",
			key + "is not a Secret Manager reference: the reference is not a full name: a full name must be projects/P/secrets/S[/versions/V] or, for a regional secret, projects/P/locations/L/secrets/S[/versions/V]"},
		{"bad version", "projects/tradepulse-prod/locations/europe-west4/secrets/s/versions/007", "",
			key + `is not a Secret Manager reference: the version must be "latest", a version number or an alias`},
		{"dot in a path element", "tradepulse/ca.crt", "tradepulse-prod",
			key + "is not a Secret Manager reference: the path element may hold only A-Z, a-z, 0-9, '_' and '-'"},
		{"short name without a project", "tradepulse/mlflow", "",
			key + "is not a Secret Manager reference: a short secret name needs a project, and this cluster sets none: set secrets.tradepulse.io/gcp-project, or give the full name projects/P/secrets/S (or projects/P/locations/L/secrets/S)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.GCPProject = tt.project
			ann := validAnnotations()
			ann[AnnotationSecretPrefix+"api-key"] = tt.ref
			spec, err := Parse(ann, opts)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				if got := spec.Config.Secrets[0].Ref; got != tt.ref {
					t.Errorf("config ref = %q, want it as written, %q", got, tt.ref)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %q", tt.ref)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("denial (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), tt.ref) {
				t.Errorf("the denial shows the reference: %v", err)
			}
		})
	}
}

// TestGCPReferencesOnlyForGCP: other backends' references are not read as
// Secret Manager's; a bad gcp-project is denied once, on its own key.
func TestGCPReferencesOnlyForGCP(t *testing.T) {
	ann := validAnnotations()
	ann[AnnotationBackend] = "aws"
	ann[AnnotationSecretPrefix+"api-key"] = "tradepulse/ca.crt"
	if _, err := Parse(ann, testOptions()); err != nil {
		t.Errorf("aws reference denied: %v", err)
	}
	ann = validAnnotations()
	maps.Copy(ann, map[string]string{AnnotationGCPProject: "Tradepulse_Prod", AnnotationSecretPrefix + "api-key": "tradepulse/mlflow"})
	want := `annotation secrets.tradepulse.io/gcp-project: "Tradepulse_Prod" is not a project ID (6–30 of a-z, 0-9, '-', starting with a letter) or project number`
	if _, err := Parse(ann, testOptions()); err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}
