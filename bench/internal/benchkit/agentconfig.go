package benchkit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tradepulse/secret-injector/agent/config"
)

// dbTemplate renders the database lease the same way for both agents.
const (
	oursDBTemplate  = `{{ .Data.username }}:{{ .Data.password }}`
	theirDBTemplate = `{{ with secret "%s" }}{{ .Data.username }}:{{ .Data.password }}{{ end }}`
	theirKVTemplate = `{{ with secret "%s" }}{{ .Data.data.value }}{{ end }}`
)

// FileNames are the files both agents write, relative to the output dir.
func (f *Fixture) FileNames() []string {
	var names []string
	for i := range f.KVRefs {
		names = append(names, fmt.Sprintf("s%02d", i))
	}
	if f.CredsPath != "" {
		names = append(names, "db")
	}
	return names
}

// AgentConfig writes our agent's config rendering the fixture into out,
// talking to the Vault at addr, and returns its path.
func (f *Fixture) AgentConfig(dir, out, addr string, interval time.Duration) (string, error) {
	c := config.Config{
		Version: config.APIVersion,
		Backend: config.Backend{Type: config.BackendVault, Vault: &config.VaultBackend{
			Address: addr, Auth: "approle", AuthPath: "auth/approle",
			RoleIDPath: f.RoleIDFile, SecretIDPath: f.SecretIDFile,
		}},
		MountPath:       out,
		RefreshInterval: config.Duration(interval),
		AdminAddr:       FreeAddr(),
		MetricsAddr:     FreeAddr(),
	}
	for i, ref := range f.KVRefs {
		c.Secrets = append(c.Secrets, config.Secret{Name: fmt.Sprintf("s%02d", i), Ref: ref + "#value"})
	}
	if f.CredsPath != "" {
		c.Secrets = append(c.Secrets, config.Secret{Name: "db", Ref: f.CredsPath, Format: config.FormatTemplate, Template: oursDBTemplate})
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "agent.json")
	return path, os.WriteFile(path, b, 0o600)
}

// VaultAgentConfig writes vault agent's HCL with the same templates: AppRole
// auto-auth, one template stanza per file, exit on a failed retry (so that
// init fails closed as ours does). staticInterval, when set, is how often
// vault agent re-reads static (KV) secrets.
func (f *Fixture) VaultAgentConfig(dir, out, addr string, staticInterval time.Duration) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "vault {\n  address = %q\n}\n", addr)
	fmt.Fprintf(&b, `auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path                   = %q
      secret_id_file_path                 = %q
      remove_secret_id_file_after_reading = false
    }
  }
}
`, f.RoleIDFile, f.SecretIDFile)
	fmt.Fprintf(&b, "template_config {\n  exit_on_retry_failure = true\n")
	if staticInterval > 0 {
		fmt.Fprintf(&b, "  static_secret_render_interval = %q\n", staticInterval.String())
	}
	b.WriteString("}\n")
	for i, ref := range f.KVRefs {
		data := "secret/data/" + strings.TrimPrefix(ref, "secret/")
		fmt.Fprintf(&b, "template {\n  destination = %q\n  contents = %q\n}\n",
			filepath.Join(out, fmt.Sprintf("s%02d", i)), fmt.Sprintf(theirKVTemplate, data))
	}
	if f.CredsPath != "" {
		fmt.Fprintf(&b, "template {\n  destination = %q\n  contents = %q\n}\n",
			filepath.Join(out, "db"), fmt.Sprintf(theirDBTemplate, f.CredsPath))
	}
	path := filepath.Join(dir, "agent.hcl")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// Paths joins each name to dir.
func Paths(dir string, names []string) []string {
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(dir, n)
	}
	return paths
}

// LeaseFileNames are the files both agents write for LeaseRefs.
func (f *Fixture) LeaseFileNames() []string {
	names := make([]string, len(f.LeaseRefs))
	for i := range f.LeaseRefs {
		names[i] = fmt.Sprintf("l%04d", i)
	}
	return names
}

// LeaseAgentConfig writes our agent's config holding one lease of each of
// LeaseRefs, rendered like the fixture's database secret, into out.
func (f *Fixture) LeaseAgentConfig(dir, out, addr string) (string, error) {
	c := config.Config{
		Version: config.APIVersion,
		Backend: config.Backend{Type: config.BackendVault, Vault: &config.VaultBackend{
			Address: addr, Auth: "approle", AuthPath: "auth/approle",
			RoleIDPath: f.RoleIDFile, SecretIDPath: f.SecretIDFile,
		}},
		MountPath:   out,
		AdminAddr:   FreeAddr(),
		MetricsAddr: FreeAddr(),
		InitTimeout: config.Duration(10 * time.Minute),
	}
	for i, ref := range f.LeaseRefs {
		c.Secrets = append(c.Secrets, config.Secret{Name: fmt.Sprintf("l%04d", i), Ref: ref, Format: config.FormatTemplate, Template: oursDBTemplate})
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "agent.json")
	return path, os.WriteFile(path, b, 0o600)
}

// LeaseVaultAgentConfig is LeaseAgentConfig for vault agent: one template
// per lease, with the same AppRole auto-auth as VaultAgentConfig.
func (f *Fixture) LeaseVaultAgentConfig(dir, out, addr string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "vault {\n  address = %q\n}\n", addr)
	fmt.Fprintf(&b, `auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path                   = %q
      secret_id_file_path                 = %q
      remove_secret_id_file_after_reading = false
    }
  }
}
template_config {
  exit_on_retry_failure = true
}
`, f.RoleIDFile, f.SecretIDFile)
	for i, ref := range f.LeaseRefs {
		fmt.Fprintf(&b, "template {\n  destination = %q\n  contents = %q\n}\n",
			filepath.Join(out, fmt.Sprintf("l%04d", i)), fmt.Sprintf(theirDBTemplate, ref))
	}
	path := filepath.Join(dir, "agent.hcl")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}
