package agentcmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent"
	"github.com/tradepulse/secret-injector/agent/admin"
)

// A short secret's version must not give it away: versions are logged,
// shown by /v1/status and saved in the state file, and a plain hash of a
// 4-digit PIN is undone by hashing 10,000 candidates. Versions are keyed
// by a key kept in the volume: the init container and the sidecar share
// it and agree; a lost key makes new versions, not a rewrite.
func TestVersionsAreKeyedAndSharedByThePodsAgents(t *testing.T) {
	const pin = "4821"
	for _, tc := range []struct {
		name    string
		backend func(t *testing.T) string // the config's backend block
		ref     string
	}{
		{"env", func(t *testing.T) string {
			env := filepath.Join(t.TempDir(), ".env")
			if err := os.WriteFile(env, []byte("PIN="+pin+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("{type: env, env: {files: [%q]}}", env)
		}, "PIN"},
		{"vault kv v1", func(t *testing.T) string {
			v := newFakeVault("tok")
			v.put("kv1/tradepulse/pin", map[string]any{"pin": pin})
			addr := freePort(t)
			serveFakeVault(t, v, addr)
			token := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(token, []byte("tok"), 0o600); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("{type: vault, vault: {address: \"http://%s\", auth: token, tokenPath: %q}}", addr, token)
		}, "kv1/tradepulse/pin#pin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			metricsAddr, adminAddr := freePort(t), freePort(t)
			path := filepath.Join(t.TempDir(), "agent.yaml")
			cfg := fmt.Sprintf(`version: secrets.tradepulse.io/v1
backend: %s
mountPath: %s
adminAddr: %s
metricsAddr: %s
secrets:
  - {name: pin, ref: %q}
`, tc.backend(t), dir, adminAddr, metricsAddr, tc.ref)
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs lockedBuffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			// The init container.
			if err := agentMain(ctx, []string{"--mode", "init", "--config", path}, &logs); err != nil {
				t.Fatalf("init: %v\n%s", err, logs.String())
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "pin")); string(b) != pin {
				t.Fatalf("pin = %q", b)
			}
			initVersion := savedVersion(t, dir, "pin")
			notAPlainHash(t, "state file", initVersion)
			logged := loggedVersions(logs.String())
			if len(logged) == 0 {
				t.Fatalf("no version logged; the check proves nothing:\n%s", logs.String())
			}
			for _, v := range logged {
				notAPlainHash(t, "log", v)
			}
			fi, err := os.Stat(filepath.Join(dir, agent.VersionKeyFile))
			if err != nil || fi.Mode().Perm() != 0o400 {
				t.Fatalf("version key: %v; want a 0400 file", err)
			}

			// The sidecar, as a new process on the same volume, agrees.
			sidecar := func() admin.SecretStatus {
				t.Helper()
				before := len(logs.String())
				ctx, stop := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- agentMain(ctx, []string{"--mode", "sidecar", "--config", path}, &logs) }()
				waitFor(t, 20*time.Second, func() bool {
					resp, err := http.Get("http://" + metricsAddr + "/readyz")
					if err != nil {
						return false
					}
					resp.Body.Close()
					return resp.StatusCode == http.StatusOK
				})
				var s admin.Status
				if err := json.Unmarshal([]byte(get(t, "http://"+adminAddr+"/v1/status")), &s); err != nil || len(s.Secrets) != 1 {
					t.Fatalf("status: %v, %+v", err, s)
				}
				stop()
				if err := <-done; err != nil {
					t.Fatalf("sidecar: %v", err)
				}
				for _, v := range loggedVersions(logs.String()[before:]) {
					notAPlainHash(t, "log", v)
				}
				return s.Secrets[0]
			}
			target := dataTarget(t, dir)
			st := sidecar()
			notAPlainHash(t, "status", st.Version)
			if st.Version != initVersion || st.Result != "unchanged" {
				t.Errorf("sidecar: version %q (%s), want the init container's %q, unchanged", st.Version, st.Result, initVersion)
			}
			if got := dataTarget(t, dir); got != target {
				t.Errorf("the sidecar rewrote an unchanged payload (%s -> %s)", target, got)
			}

			// A lost key: a new one, new versions, the same file.
			if err := os.Remove(filepath.Join(dir, agent.VersionKeyFile)); err != nil {
				t.Fatal(err)
			}
			st = sidecar()
			if st.Version == initVersion || !st.OK {
				t.Errorf("after the key was lost: version %q ok=%v, want a new version", st.Version, st.OK)
			}
			notAPlainHash(t, "status", st.Version)
			if b, _ := os.ReadFile(filepath.Join(dir, "pin")); string(b) != pin {
				t.Errorf("pin = %q after a new key", b)
			}
			if _, err := os.Stat(filepath.Join(dir, agent.VersionKeyFile)); err != nil {
				t.Errorf("no new key kept: %v", err)
			}
			if strings.Contains(logs.String(), `"`+pin+`"`) || strings.Contains(logs.String(), "="+pin) {
				t.Errorf("logs hold the value:\n%s", logs.String())
			}
		})
	}
}

// notAPlainHash fails when version is a prefix of the SHA-256 of any
// 4-digit value: anyone could recover the value from it.
func notAPlainHash(t *testing.T, where, version string) {
	t.Helper()
	if version == "" {
		t.Errorf("%s: empty version", where)
		return
	}
	for n := range 10000 {
		sum := sha256.Sum256(fmt.Appendf(nil, "%04d", n))
		if strings.HasPrefix(hex.EncodeToString(sum[:]), version) {
			t.Errorf("%s: version %q is the plain SHA-256 of %04d", where, version, n)
		}
	}
}

func savedVersion(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, agent.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Secrets map[string]struct{ Version string } `json:"secrets"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return s.Secrets[name].Version
}

// loggedVersions returns every "version" value of JSON log lines.
func loggedVersions(logs string) []string {
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if v, ok := m["version"].(string); ok && !strings.HasPrefix(v, "..") {
			out = append(out, v)
		}
	}
	return out
}

func dataTarget(t *testing.T, dir string) string {
	t.Helper()
	target, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	return target
}
