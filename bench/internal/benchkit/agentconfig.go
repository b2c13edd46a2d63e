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
	c := f.ourConfig(out, addr)
	c.RefreshInterval = config.Duration(interval)
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
	return writeConfig(dir, "agent.json", b)
}

// VaultAgentConfig writes vault agent's HCL with the same templates: AppRole
// auto-auth, one template stanza per file, exit on a failed retry (so that
// init fails closed as ours does). staticInterval, when set, is how often
// vault agent re-reads static (KV) secrets.
func (f *Fixture) VaultAgentConfig(dir, out, addr string, staticInterval time.Duration) (string, error) {
	var b strings.Builder
	f.theirPreamble(&b, addr, staticInterval)
	for i, ref := range f.KVRefs {
		data := "secret/data/" + strings.TrimPrefix(ref, "secret/")
		theirTemplate(&b, filepath.Join(out, fmt.Sprintf("s%02d", i)), fmt.Sprintf(theirKVTemplate, data))
	}
	if f.CredsPath != "" {
		theirTemplate(&b, filepath.Join(out, "db"), fmt.Sprintf(theirDBTemplate, f.CredsPath))
	}
	return writeConfig(dir, "agent.hcl", []byte(b.String()))
}

// ourConfig is our agent's config for the fixture without its secrets:
// AppRole auth with the fixture's files against the Vault at addr, files
// written into out, admin and metrics on free ports.
func (f *Fixture) ourConfig(out, addr string) config.Config {
	return config.Config{
		Version: config.APIVersion,
		Backend: config.Backend{Type: config.BackendVault, Vault: &config.VaultBackend{
			Address: addr, Auth: "approle", AuthPath: "auth/approle",
			RoleIDPath: f.RoleIDFile, SecretIDPath: f.SecretIDFile,
		}},
		MountPath:   out,
		AdminAddr:   FreeAddr(),
		MetricsAddr: FreeAddr(),
	}
}

// theirPreamble writes what comes before vault agent's templates: the
// Vault at addr, AppRole auto-auth with the fixture's files, and
// template_config (exit on a failed retry; staticInterval, when set, is
// how often static secrets are re-read).
func (f *Fixture) theirPreamble(b *strings.Builder, addr string, staticInterval time.Duration) {
	fmt.Fprintf(b, "vault {\n  address = %q\n}\n", addr)
	fmt.Fprintf(b, `auto_auth {
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
	fmt.Fprintf(b, "template_config {\n  exit_on_retry_failure = true\n")
	if staticInterval > 0 {
		fmt.Fprintf(b, "  static_secret_render_interval = %q\n", staticInterval.String())
	}
	b.WriteString("}\n")
}

// theirTemplate writes one vault agent template stanza.
func theirTemplate(b *strings.Builder, destination, contents string) {
	fmt.Fprintf(b, "template {\n  destination = %q\n  contents = %q\n}\n", destination, contents)
}

// writeConfig writes a config file as dir/name and returns its path.
func writeConfig(dir, name string, b []byte) (string, error) {
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, b, 0o600)
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
	c := f.ourConfig(out, addr)
	c.InitTimeout = config.Duration(10 * time.Minute)
	for i, ref := range f.LeaseRefs {
		c.Secrets = append(c.Secrets, config.Secret{Name: fmt.Sprintf("l%04d", i), Ref: ref, Format: config.FormatTemplate, Template: oursDBTemplate})
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return writeConfig(dir, "agent.json", b)
}

// LeaseVaultAgentConfig is LeaseAgentConfig for vault agent: one template
// per lease, with the same AppRole auto-auth as VaultAgentConfig.
func (f *Fixture) LeaseVaultAgentConfig(dir, out, addr string) (string, error) {
	var b strings.Builder
	f.theirPreamble(&b, addr, 0)
	for i, ref := range f.LeaseRefs {
		theirTemplate(&b, filepath.Join(out, fmt.Sprintf("l%04d", i)), fmt.Sprintf(theirDBTemplate, ref))
	}
	return writeConfig(dir, "agent.hcl", []byte(b.String()))
}
