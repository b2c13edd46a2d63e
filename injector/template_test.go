package injector

import (
	"strings"
	"testing"
)

// TestTemplateFields: a template may read only what the agent gives it —
// .Data, .Raw and .Version — wherever the data is the top-level one; inside
// with and range the dot is something else and is not checked.
func TestTemplateFields(t *testing.T) {
	const (
		unknownUser = `the Go template reads .username, but a template's data has only .Data (the secret's JSON fields: write .Data.username), .Raw (its text) and .Version`
		unknownPass = `the Go template reads .password, but a template's data has only .Data (the secret's JSON fields: write .Data.password), .Raw (its text) and .Version`
	)
	tests := []struct {
		name, body, want string
	}{
		{"data field", `user={{ .Data.username | lower }}`, ""},
		{"raw and version", `{{ .Raw | b64enc }} {{ .Version }}`, ""},
		{"whole data", `{{ .Data | json }}`, ""},
		{"dot itself", `{{ . }}`, ""},
		{"with rebinds the dot", `{{ with .Data }}{{ .username }}{{ end }}`, ""},
		{"range rebinds the dot", `{{ range $k, $v := .Data }}{{ $k }}={{ $v }}{{ .anything }}{{ end }}`, ""},
		{"root variable", `{{ range .Data }}{{ $.Data.user }}{{ end }}`, ""},
		{"defined template has its own dot", `{{ define "x" }}{{ .user }}{{ end }}{{ template "x" .Data }}`, ""},
		{"parenthesised", `{{ (.Data).username }}`, ""},
		{"unknown field", `user={{ .username }}`, unknownUser},
		{"unknown field in a pipeline", `{{ .username | lower }}`, unknownUser},
		{"unknown field as an argument", `{{ printf "%s" .username }}`, unknownUser},
		{"unknown field in if", `{{ if .Data.x }}{{ .username }}{{ end }}`, unknownUser},
		{"unknown field in an if condition", `{{ if .username }}x{{ end }}`, unknownUser},
		{"unknown field in with's else", `{{ with .Data.x }}{{ .y }}{{ else }}{{ .username }}{{ end }}`, unknownUser},
		{"unknown field in range's else", `{{ range .Data.x }}{{ .y }}{{ else }}{{ .username }}{{ end }}`, unknownUser},
		{"unknown field passed to a template", `{{ define "x" }}{{ . }}{{ end }}{{ template "x" .username }}`, unknownUser},
		{"unknown field through $", `{{ with .Data }}{{ $.password }}{{ end }}`, unknownPass},
		{"field of raw", `{{ .Raw.username }}`, `the Go template reads .Raw.username, but .Raw is the secret's text and has no fields`},
		{"field of version", `{{ .Version.x }}`, `the Go template reads .Version.x, but .Version is text and has no fields`},
		{"long field name is not shown", `{{ .` + strings.Repeat("a", 40) + ` }}`,
			`the Go template reads a field other than .Data, .Raw and .Version; a template's data has only .Data (the secret's JSON fields: write .Data.<field>), .Raw (its text) and .Version`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := templateProblem("k", tt.body); got != tt.want {
				t.Errorf("templateProblem(%q)\n got: %s\nwant: %s", tt.body, got, tt.want)
			}
		})
	}
}
