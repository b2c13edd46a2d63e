package env_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/backendtest"
	"github.com/tradepulse/secret-injector/agent/backend/env"
	"github.com/tradepulse/secret-injector/agent/backend/env/dotenvtest"
)

const sentinel = backendtest.Sentinel

func TestConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	f := dotenvtest.NewFile(path)
	if err := f.Delete("NOTHING"); err != nil { // an empty file: "missing" means a missing key
		t.Fatal(err)
	}
	b, err := env.New([]string{path}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, backendtest.Harness{
		Backend: b,
		Put: func(t *testing.T, ref string, data []byte) {
			if err := f.Put(env.KeyFor(ref), string(data)); err != nil {
				t.Fatal(err)
			}
		},
		Delete: func(t *testing.T, ref string) {
			if err := f.Delete(env.KeyFor(ref)); err != nil {
				t.Fatal(err)
			}
		},
	})
}

func TestKeyFor(t *testing.T) {
	for _, tc := range []struct{ name, ref, want string }{
		{"runbook path", "tradepulse/exchanges/binance/api-key", "TRADEPULSE_EXCHANGES_BINANCE_API_KEY"},
		{"json secret", "tradepulse/postgres-tls", "TRADEPULSE_POSTGRES_TLS"},
		{"already a variable", "DATABASE_URL", "DATABASE_URL"},
		{"lower-case variable kept", "mlflow_tracking_uri", "mlflow_tracking_uri"},
		{"dots and colons", "app.config:v2", "APP_CONFIG_V2"},
		{"leading digit", "1password/item", "1PASSWORD_ITEM"},
		{"non-ascii is one underscore", "tradepulse/clé", "TRADEPULSE_CL_"},
		{"gcp resource name", "projects/p-1/secrets/s/versions/latest", "PROJECTS_P_1_SECRETS_S_VERSIONS_LATEST"},
		{"arn", "arn:aws:secretsmanager:eu-west-1:123:secret:x", "ARN_AWS_SECRETSMANAGER_EU_WEST_1_123_SECRET_X"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := env.KeyFor(tc.ref); got != tc.want {
				t.Errorf("KeyFor(%q) = %q, want %q", tc.ref, got, tc.want)
			}
		})
	}
}

// write creates name in dir with content and returns its path.
func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func fetch(t *testing.T, b *env.Backend, ref string) (string, error) {
	t.Helper()
	s, err := b.Fetch(context.Background(), ref)
	if err != nil && strings.Contains(err.Error(), sentinel) {
		t.Fatalf("error leaks a value: %v", err)
	}
	return string(s.Data), err
}

func TestFetchValues(t *testing.T) {
	dir := t.TempDir()
	base := write(t, dir, ".env", `# shared defaults
export TRADEPULSE_MLFLOW=http://mlflow:5000
TRADEPULSE_EXCHANGES_BINANCE_API_KEY=from-base # a comment
TRADEPULSE_POSTGRES_TLS='{"ca":"-----BEGIN CERTIFICATE-----
MIIB
-----END CERTIFICATE-----"}'
DOUBLE="line1\nline2"
ONLY_BASE=base
`)
	local := write(t, dir, ".env.local", "TRADEPULSE_EXCHANGES_BINANCE_API_KEY=from-local\n")
	b, err := env.New([]string{base, local, filepath.Join(dir, "absent.env")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, ref, want string }{
		{"export prefix", "tradepulse/mlflow", "http://mlflow:5000"},
		{"later file overrides earlier", "tradepulse/exchanges/binance/api-key", "from-local"},
		{"earlier file still read", "ONLY_BASE", "base"},
		{"multi-line single-quoted json", "tradepulse/postgres-tls", "{\"ca\":\"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\"}"},
		{"double-quoted escapes", "DOUBLE", "line1\nline2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fetch(t, b, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Fetch(%q) (-want +got):\n%s", tc.ref, diff)
			}
		})
	}
}

func TestFetchSeesEdits(t *testing.T) {
	p := write(t, t.TempDir(), ".env", "A=1\n")
	b, _ := env.New([]string{p}, nil, nil)
	first, err := b.Fetch(context.Background(), "A")
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Dir(p), ".env", "# comment added\nB=2\nA=1\n")
	same, err := b.Fetch(context.Background(), "A")
	if err != nil || same.Version != first.Version {
		t.Fatalf("unchanged value after an edit elsewhere: version %q, %v; want %q", same.Version, err, first.Version)
	}
	write(t, filepath.Dir(p), ".env", "A=2\n")
	second, err := b.Fetch(context.Background(), "A")
	if err != nil || string(second.Data) != "2" || second.Version == first.Version {
		t.Fatalf("after edit: %q version %q, %v; want 2 with a new version", second.Data, second.Version, err)
	}
	if len(second.Version) != 16 {
		t.Errorf("version %q, want 16 hex digits", second.Version)
	}
}

// Versions are keyed: the same key gives the same version (two agents of
// one pod agree), another key another version, and no plain hash of the
// value matches it.
func TestVersionIsKeyed(t *testing.T) {
	p := write(t, t.TempDir(), ".env", "PIN=4821\n")
	key := backend.NewVersionKey()
	version := func(k backend.VersionKey) string {
		t.Helper()
		b, err := env.New([]string{p}, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := b.Fetch(context.Background(), "PIN")
		if err != nil {
			t.Fatal(err)
		}
		return s.Version
	}
	v := version(key)
	if again := version(key); again != v {
		t.Errorf("same key: %q then %q", v, again)
	}
	if other := version(backend.NewVersionKey()); other == v {
		t.Errorf("another key gave the same version %q", v)
	}
	if unkeyed := version(nil); unkeyed == v {
		t.Errorf("no key gave the keyed version %q", v)
	}
	sum := sha256.Sum256([]byte("4821"))
	if strings.HasPrefix(hex.EncodeToString(sum[:]), v) {
		t.Errorf("version %q is a prefix of the value's plain SHA-256", v)
	}
}

func TestFetchErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		files      map[string]string // name → content; a directory when content is "<dir>"
		use        []string          // files given to New, relative to the test directory
		ref        string
		failClosed bool
		want       []string // substrings of the error
	}{
		{
			name:       "missing key names ref, key and files",
			files:      map[string]string{".env": "OTHER=" + sentinel + "\n", ".env.local": "X=1\n"},
			use:        []string{".env", ".env.local"},
			ref:        "tradepulse/exchanges/kraken/api-key",
			failClosed: true,
			want:       []string{`"tradepulse/exchanges/kraken/api-key"`, "TRADEPULSE_EXCHANGES_KRAKEN_API_KEY", ".env, .env.local", "not found"},
		},
		{
			name: "no file at all says what to do",
			use:  []string{".env"},
			ref:  "A",
			want: []string{".env does not exist", "copy .env.example to .env"},
		},
		{
			name:  "no file but an example next to it",
			files: map[string]string{".env.example": "A=changeme\n"},
			use:   []string{".env"},
			ref:   "A",
			want:  []string{".env does not exist", "copy .env.example to .env"},
		},
		{
			name: "none of several files",
			use:  []string{".env", ".env.local"},
			ref:  "A",
			want: []string{"none of .env, .env.local exists"},
		},
		{
			name:  "unterminated quote names file and line",
			files: map[string]string{".env": "A=1\n\n# note\nB='" + sentinel + "\nC=3\n"},
			use:   []string{".env"},
			ref:   "A",
			want:  []string{".env: line 4:", "quoted value is not closed"},
		},
		{
			name:  "bad name after a multi-line value",
			files: map[string]string{".env": "A='x\ny\nz'\nBAD-NAME=" + sentinel + "\nC=" + sentinel + "\n"},
			use:   []string{".env"},
			ref:   "A",
			want:  []string{".env: line 4:", "variable name"},
		},
		{
			name:  "line without equals sign",
			files: map[string]string{".env": "A=1\n" + sentinel + "\n"},
			use:   []string{".env"},
			ref:   "A",
			want:  []string{".env: line 2:", "expected NAME=value"},
		},
		{
			name:  "unreadable file",
			files: map[string]string{".env": "<dir>"},
			use:   []string{".env"},
			ref:   "A",
			want:  []string{"env file .env:", "is a directory"},
		},
		{
			name:  "broken later file is not skipped",
			files: map[string]string{".env": "A=1\n", ".env.local": "A='" + sentinel + "\n"},
			use:   []string{".env", ".env.local"},
			ref:   "A",
			want:  []string{".env.local: line 1:"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			for name, content := range tc.files {
				if content == "<dir>" {
					if err := os.Mkdir(name, 0o700); err != nil {
						t.Fatal(err)
					}
					continue
				}
				write(t, dir, name, content)
			}
			b, err := env.New(tc.use, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = fetch(t, b, tc.ref)
			if err == nil {
				t.Fatal("Fetch succeeded, want an error")
			}
			if got := backend.FailsClosed(err); got != tc.failClosed {
				t.Errorf("FailsClosed(%v) = %v, want %v", err, got, tc.failClosed)
			}
			if tc.failClosed && !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("error %v does not wrap ErrNotFound", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDefaultFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	write(t, dir, ".env", "A=1\n")
	b, err := env.New(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fetch(t, b, "A"); err != nil || got != "1" {
		t.Fatalf("Fetch with the default file = %q, %v", got, err)
	}
}

func TestNewRejects(t *testing.T) {
	for name, files := range map[string][]string{
		"empty name": {".env", " "},
		"duplicate":  {".env", "./.env"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := env.New(files, nil, nil); err == nil {
				t.Errorf("New(%q) succeeded", files)
			}
		})
	}
}

func TestFetchHonoursContext(t *testing.T) {
	b, _ := env.New([]string{write(t, t.TempDir(), ".env", "A=1\n")}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Fetch(ctx, "A"); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch with a cancelled context: %v", err)
	}
}

// TestSentinelNeverLogged feeds a sentinel value through every path, with
// debug logging, and checks it reaches neither the log nor an error.
func TestSentinelNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := t.TempDir()
	p := filepath.Join(dir, ".env")
	b, err := env.New([]string{p, filepath.Join(dir, "missing.env")}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	changed := make(chan struct{}, 100)
	go func() { done <- b.Watch(ctx, func() { changed <- struct{}{} }) }()

	var errs []error
	for _, content := range []string{
		"KEY=" + sentinel + "\n",
		"KEY='" + sentinel + "\n",
		"BAD KEY=" + sentinel + "\n",
		sentinel + "\n",
		"export 'KEY=" + sentinel + "'\n",
	} {
		write(t, dir, ".env", content)
		for _, ref := range []string{"KEY", "tradepulse/absent"} {
			if _, err := b.Fetch(ctx, ref); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) < 5 {
		t.Fatalf("only %d error paths exercised", len(errs))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch: %v", err)
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), sentinel) {
			t.Errorf("error leaks the value: %v", err)
		}
	}
	if strings.Contains(buf.String(), sentinel) {
		t.Errorf("log leaks the value:\n%s", buf.String())
	}
}
