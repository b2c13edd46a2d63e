package vault_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
	"github.com/tradepulse/secret-injector/agent/backend/vault"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/agent/config"
)

// logs captures a backend's logs at debug level, so that every path logs,
// and checks at the end of the test that no secret value reached them.
type logs struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	forbidden []string
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// forbid adds values that must never appear in the logs (tokens, database
// passwords, secret IDs).
func (l *logs) forbid(values ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forbidden = append(l.forbidden, values...)
}

// count reports how many log lines hold msg.
func (l *logs) count(msg string) int {
	return strings.Count(l.String(), `"msg":"`+msg+`"`)
}

func newLogs(t *testing.T) (*slog.Logger, *logs) {
	l := &logs{forbidden: []string{backendtest.Sentinel}}
	t.Cleanup(func() {
		out := l.String()
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, v := range l.forbidden {
			if v != "" && strings.Contains(out, v) {
				t.Errorf("logs hold a secret value (%.6s…):\n%s", v, out)
			}
		}
	})
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})), l
}

// newBackend logs in with cfg and closes the backend when the test ends.
func newBackend(t *testing.T, cfg config.VaultBackend) (*vault.Backend, *logs) {
	t.Helper()
	log, l := newLogs(t)
	b, err := vault.New(ctx(t, 15*time.Second), cfg, nil, log)
	if err != nil {
		t.Fatalf("vault.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, l
}

// tokenBackend is a backend using token auth with a fresh token holding
// policies (read from a file, as a token sink would provide it).
func tokenBackend(t *testing.T, bed *vaulttest.Env, policies ...string) (*vault.Backend, *logs) {
	t.Helper()
	token := bed.Token(t, 0, policies...)
	b, l := newBackend(t, config.VaultBackend{
		Address:   bed.Addr,
		Auth:      vault.AuthToken,
		TokenPath: vaulttest.WriteFile(t, "token", token),
	})
	l.forbid(token)
	return b, l
}

func ctx(t *testing.T, d time.Duration) context.Context {
	return vaulttest.Context(t, d)
}

// noLeak fails when err's message holds a value.
func noLeak(t *testing.T, err error, values ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, v := range append(values, backendtest.Sentinel) {
		if v != "" && strings.Contains(err.Error(), v) {
			t.Errorf("error leaks a secret value: %v", err)
		}
	}
}

// kvPolicy grants what an application's agent needs on a KV mount.
func kvPolicy(mount string, version int) string {
	if version == 2 {
		return `path "` + mount + `/data/*" { capabilities = ["read"] }
path "` + mount + `/metadata/*" { capabilities = ["read"] }
`
	}
	return `path "` + mount + `/*" { capabilities = ["read"] }
`
}
