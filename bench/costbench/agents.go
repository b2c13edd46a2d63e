package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

type starter = func(dir string) (*benchkit.Proc, []string, error)

// oursStart returns a starter for our agent in sidecar mode on backend,
// with secrets named names referring to tradepulse/bench/<name>.
func oursStart(bin string, names []string, interval time.Duration, b config.Backend, env []string) starter {
	return oursStartRefs(bin, names, nil, interval, b, env)
}

// oursStartRefs is oursStart with explicit references (Vault paths; the
// field "value" is read).
func oursStartRefs(bin string, names, refs []string, interval time.Duration, b config.Backend, env []string) starter {
	return func(dir string) (*benchkit.Proc, []string, error) {
		out := filepath.Join(dir, "out")
		c := config.Config{Version: config.APIVersion, Backend: b, MountPath: out, RefreshInterval: config.Duration(interval),
			AdminAddr: benchkit.FreeAddr(), MetricsAddr: benchkit.FreeAddr()}
		var files []string
		for i, name := range names {
			ref := "tradepulse/bench/" + name
			if refs != nil {
				ref = refs[i] + "#value"
			}
			c.Secrets = append(c.Secrets, config.Secret{Name: name, Ref: ref})
			files = append(files, filepath.Join(out, name))
		}
		raw, err := json.Marshal(c)
		if err != nil {
			return nil, nil, err
		}
		cfg := filepath.Join(dir, "agent.json")
		if err := os.WriteFile(cfg, raw, 0o600); err != nil {
			return nil, nil, err
		}
		p, err := benchkit.StartProc(dir, env, bin, "agent", "--mode", "sidecar", "--config", cfg)
		return p, files, err
	}
}

// theirStart returns a starter for vault agent rendering fx's KV secrets
// and re-reading them every interval.
func theirStart(vaultBin, addr string, fx *benchkit.Fixture, interval time.Duration) starter {
	return func(dir string) (*benchkit.Proc, []string, error) {
		out := filepath.Join(dir, "out")
		if err := os.MkdirAll(out, 0o700); err != nil {
			return nil, nil, err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "vault {\n  address = %q\n}\n", addr)
		fmt.Fprintf(&b, "auto_auth {\n  method \"approle\" {\n    mount_path = \"auth/approle\"\n    config = {\n      role_id_file_path = %q\n      secret_id_file_path = %q\n      remove_secret_id_file_after_reading = false\n    }\n  }\n}\n", fx.RoleIDFile, fx.SecretIDFile)
		fmt.Fprintf(&b, "template_config {\n  exit_on_retry_failure = true\n  static_secret_render_interval = %q\n}\n", interval.String())
		var files []string
		for i, ref := range fx.KVRefs {
			dest := filepath.Join(out, fmt.Sprintf("s%02d", i))
			files = append(files, dest)
			fmt.Fprintf(&b, "template {\n  destination = %q\n  contents = %q\n}\n", dest,
				fmt.Sprintf(`{{ with secret "secret/data/%s" }}{{ .Data.data.value }}{{ end }}`, strings.TrimPrefix(ref, "secret/")))
		}
		cfg := filepath.Join(dir, "agent.hcl")
		if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
			return nil, nil, err
		}
		p, err := benchkit.StartProc(dir, nil, vaultBin, "agent", "-config="+cfg, "-log-level=warn")
		return p, files, err
	}
}
