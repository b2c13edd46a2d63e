package agentcmd

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent"
	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/internal/buildinfo"
	"github.com/tradepulse/secret-injector/internal/cli"
)

// run is a binary of the agent's commands, as cmd/secret-injector-agent
// builds it.
func run(ctx context.Context, args []string) int {
	return cli.Program{Name: "test", Commands: Commands()}.Main(ctx, args, os.Stdout, os.Stderr)
}

func TestParseAgentFlags(t *testing.T) {
	defLog := cli.LogOptions{Level: "info", Format: "json"}
	for _, tc := range []struct {
		name    string
		args    []string
		want    agentFlags
		wantErr string
	}{
		{"defaults", nil, agentFlags{mode: "sidecar", log: defLog, terminationLog: agent.TerminationLog}, ""},
		{"init with file", []string{"--mode", "init", "--config", "a.yaml", "--log-format", "text"},
			agentFlags{mode: "init", configPath: "a.yaml", log: cli.LogOptions{Level: "info", Format: "text"}, terminationLog: agent.TerminationLog}, ""},
		{"native sidecar", []string{"--mode", "sidecar", "--native-sidecar"},
			agentFlags{mode: "sidecar", log: defLog, nativeSidecar: true, terminationLog: agent.TerminationLog}, ""},
		{"termination log", []string{"--mode", "init", "--termination-log", "/tmp/x"},
			agentFlags{mode: "init", log: defLog, terminationLog: "/tmp/x"}, ""},
		{"native sidecar in init mode", []string{"--mode", "init", "--native-sidecar"}, agentFlags{}, "--native-sidecar goes with --mode sidecar"},
		{"debug logs", []string{"--log-level=debug"}, agentFlags{mode: "sidecar", log: cli.LogOptions{Level: "debug", Format: "json"}, terminationLog: agent.TerminationLog}, ""},
		{"bad mode", []string{"--mode", "daemon"}, agentFlags{}, `invalid argument "daemon" for "--mode" flag: want init or sidecar`},
		{"bad log format", []string{"--log-format", "xml"}, agentFlags{}, `invalid argument "xml" for "--log-format" flag: want json or text`},
		{"bad log level", []string{"--log-level", "loud"}, agentFlags{}, `invalid argument "loud" for "--log-level" flag: want debug, info, warn or error`},
		{"unknown flag", []string{"--nope"}, agentFlags{}, "unknown flag: --nope"},
		{"single-dash long flag", []string{"-mode", "init"}, agentFlags{}, "unknown shorthand flag: 'm' in -mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAgentFlags(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	cfg, err := loadConfig(filepath.Join("..", "..", defaultLocalConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backend.Type != config.BackendEnv || len(cfg.Secrets) != 7 {
		t.Fatalf("example config: backend %q, %d secrets", cfg.Backend.Type, len(cfg.Secrets))
	}
}

func TestLoadConfigNamesTheFileAndField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("version: secrets.tradepulse.io/v1\nsecrets:\n- {name: ../x, ref: a}\n"), 0o600)
	_, err := loadConfig(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "secrets[0].name") {
		t.Fatalf("err = %v", err)
	}
}

// TestLocalAgentFollowsDotEnvEdits is `make run` in-process: the agent on
// the env backend renders the files, an edit of .env rewrites its file
// promptly, and the metrics endpoint shows the refresh.
func TestLocalAgentFollowsDotEnvEdits(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent with real file watching")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile(".env", []byte("TRADEPULSE_EXCHANGES_BINANCE_API_KEY=first\n"), 0o600)
	metricsAddr, adminAddr := freePort(t), freePort(t)
	os.WriteFile("agent.yaml", []byte(fmt.Sprintf(`version: secrets.tradepulse.io/v1
backend: {type: env}
mountPath: .secrets
refreshInterval: 1h
adminAddr: %s
metricsAddr: %s
secrets:
  - {name: api-key, ref: tradepulse/exchanges/binance/api-key}
`, adminAddr, metricsAddr)), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"agent", "--config", "agent.yaml", "--log-format", "text"}) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("agent exited %d", code)
		}
	}()

	waitFor(t, 10*time.Second, func() bool { b, _ := os.ReadFile(".secrets/api-key"); return string(b) == "first" })
	fi, err := os.Stat(".secrets/api-key")
	if err != nil || fi.Mode().Perm() != 0o400 {
		t.Fatalf("api-key: %v, mode %v", err, fi.Mode().Perm())
	}

	os.WriteFile(".env.tmp", []byte("TRADEPULSE_EXCHANGES_BINANCE_API_KEY=second\n"), 0o600)
	os.Rename(".env.tmp", ".env") // as editors save
	edited := time.Now()
	// The refresh interval is an hour: only the file watch can do this.
	waitFor(t, 5*time.Second, func() bool { b, _ := os.ReadFile(".secrets/api-key"); return string(b) == "second" })
	t.Logf("edit reached the file in %s", time.Since(edited))

	body := get(t, "http://"+metricsAddr+"/metrics")
	bi := buildinfo.Get()
	for _, want := range []string{
		`secret_rotation_status{backend="env",secret="api-key"} 1`,
		`secret_refresh_total{backend="env",result="updated",secret="api-key"} 2`,
		fmt.Sprintf(`secret_injector_build_info{commit=%q,go_version=%q,version=%q} 1`, bi.Commit, bi.GoVersion, bi.Version),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if status := get(t, "http://"+adminAddr+"/v1/status"); !strings.Contains(status, `"name": "api-key"`) || strings.Contains(status, "second") {
		t.Errorf("status:\n%s", status)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
