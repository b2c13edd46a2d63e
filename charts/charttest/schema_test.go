package charttest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
)

// TestSchemaRejectsMistakes: a misspelt key or an impossible combination
// fails at `helm install` with a message that points at it, instead of being
// ignored until a pod misbehaves.
func TestSchemaRejectsMistakes(t *testing.T) {
	helm := helmBinary(t)
	tests := []struct {
		name   string
		values map[string]any
		want   string // where helm's schema error points
	}{
		{
			name:   "replicaCount misspelt",
			values: map[string]any{"replicaCout": 3},
			want:   "additional properties 'replicaCout' not allowed",
		},
		{
			name:   "key under defaults misspelt",
			values: map[string]any{"defaults": map[string]any{"refreshIntervall": "1m"}},
			want:   "at '/defaults': additional properties 'refreshIntervall' not allowed",
		},
		{
			name:   "key under defaults.vault misspelt",
			values: map[string]any{"defaults": map[string]any{"vault": map[string]any{"adress": "https://vault:8200"}}},
			want:   "at '/defaults/vault': additional properties 'adress' not allowed",
		},
		{
			name:   "key under monitoring misspelt",
			values: map[string]any{"monitoring": map[string]any{"podMonitors": map[string]any{"enabled": true}}},
			want:   "at '/monitoring': additional properties 'podMonitors' not allowed",
		},
		{
			name:   "certificate alert threshold in a duration string",
			values: map[string]any{"monitoring": map[string]any{"prometheusRule": map[string]any{"agentCertificateExpirySeconds": "1h"}}},
			want:   "at '/monitoring/prometheusRule/agentCertificateExpirySeconds'",
		},
		{
			name:   "certificate alert threshold under a minute",
			values: map[string]any{"monitoring": map[string]any{"prometheusRule": map[string]any{"agentCertificateExpirySeconds": 30}}},
			want:   "at '/monitoring/prometheusRule/agentCertificateExpirySeconds'",
		},
		{
			name:   "unknown failure policy",
			values: map[string]any{"webhook": map[string]any{"failurePolicy": "Retry"}},
			want:   "at '/webhook/failurePolicy'",
		},
		{
			name:   "unknown TLS mode",
			values: map[string]any{"tls": map[string]any{"mode": "manual"}},
			want:   "at '/tls/mode'",
		},
		{
			name:   "secret mode without a Secret",
			values: map[string]any{"tls": map[string]any{"mode": "secret"}},
			want:   "at '/tls/secret/name'",
		},
		{
			name:   "unknown backend",
			values: map[string]any{"defaults": map[string]any{"backend": "azure"}},
			want:   "at '/defaults/backend'",
		},
		{
			name: "default backend not enabled",
			values: map[string]any{"defaults": map[string]any{
				"backend": "aws", "enabledBackends": []any{"gcp"}}},
			want: "at '/defaults/enabledBackends'",
		},
		{
			name: "vault default without an address",
			values: map[string]any{"defaults": map[string]any{
				"backend": "vault", "enabledBackends": []any{"vault"}}},
			want: "at '/defaults/vault/address'",
		},
		{
			name:   "hostNetwork pods cannot be allowed yet",
			values: map[string]any{"defaults": map[string]any{"allowHostNetwork": true}},
			want:   "at '/defaults/allowHostNetwork'",
		},
		{
			name:   "agent as root",
			values: map[string]any{"defaults": map[string]any{"agent": map[string]any{"uid": 0}}},
			want:   "at '/defaults/agent/uid'",
		},
		{
			name:   "no secrets allowed per pod",
			values: map[string]any{"defaults": map[string]any{"maxSecretsPerPod": 0}},
			want:   "at '/defaults/maxSecretsPerPod'",
		},
		{
			name:   "minimum refresh interval not a duration",
			values: map[string]any{"defaults": map[string]any{"minRefreshInterval": "half a minute"}},
			want:   "at '/defaults/minRefreshInterval'",
		},
		{
			name:   "allowed AWS role that is no ARN",
			values: map[string]any{"defaults": map[string]any{"aws": map[string]any{"allowedRoleARNs": []any{"tradepulse-*"}}}},
			want:   "at '/defaults/aws/allowedRoleARNs/0'",
		},
		{
			name:   "allowed AWS roles as one comma list",
			values: map[string]any{"defaults": map[string]any{"aws": map[string]any{"allowedRoleARNs": []any{"arn:aws:iam::1:role/a,arn:aws:iam::1:role/b"}}}},
			want:   "at '/defaults/aws/allowedRoleARNs/0'",
		},
		{
			name:   "refresh interval not a duration",
			values: map[string]any{"defaults": map[string]any{"refreshInterval": "5 minutes"}},
			want:   "at '/defaults/refreshInterval'",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Template(helm, tt.values, testNamespace)
			if err == nil {
				t.Fatal("rendered; want a schema error")
			}
			msg := err.Error()
			if !strings.Contains(msg, "don't meet the specifications of the schema") || !strings.Contains(msg, tt.want) {
				t.Errorf("error does not point at %q:\n%s", tt.want, msg)
			}
		})
	}
}

// TestSchemaClosed: every object the schema describes by its properties
// refuses other keys, so that no typo is silently accepted. Free-form maps
// (labels, annotations, Kubernetes types) have no properties and are exempt.
func TestSchemaClosed(t *testing.T) {
	schema := loadSchema(t)
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		if props, ok := s["properties"].(map[string]any); ok {
			if s["additionalProperties"] != false {
				t.Errorf("%s: has properties but not additionalProperties: false", path)
			}
			for k, v := range props {
				if sub, ok := v.(map[string]any); ok {
					walk(path+"/"+k, sub)
				}
			}
		}
		if items, ok := s["items"].(map[string]any); ok {
			walk(path+"[]", items)
		}
	}
	walk("", schema)
}

// TestValuesDocumented: every value in values.yaml has a comment above it,
// checked for every key of an object the schema closes (keys inside
// free-form maps such as resources are example content, not values).
func TestValuesDocumented(t *testing.T) {
	schema := loadSchema(t)
	b, err := os.ReadFile(filepath.Join(ChartDir(), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, n *yamlv3.Node, s map[string]any)
	walk = func(path string, n *yamlv3.Node, s map[string]any) {
		props, ok := s["properties"].(map[string]any)
		if !ok || n.Kind != yamlv3.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			p := strings.TrimPrefix(path+"."+key.Value, ".")
			if strings.TrimSpace(key.HeadComment) == "" {
				t.Errorf("values.yaml line %d: %s has no comment above it", key.Line, p)
			}
			sub, ok := props[key.Value].(map[string]any)
			if !ok {
				t.Errorf("values.yaml line %d: %s is not in values.schema.json", key.Line, p)
				continue
			}
			walk(p, val, sub)
		}
	}
	walk("", doc.Content[0], schema)
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ChartDir(), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	return s
}
