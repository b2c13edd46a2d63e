package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/agent/metrics"
	"github.com/tradepulse/secret-injector/agent/sink"
	"github.com/tradepulse/secret-injector/internal/testkit"
)

const sentinel = "SENTINEL-value-never-logged-5c1e"

// harness is an agent wired to a fake backend, the real volume writer in a
// temp dir, and a log buffer.
type harness struct {
	t       *testing.T
	agent   *Agent
	fake    *fakeBackend
	dir     string
	reg     *prometheus.Registry
	logs    *testkit.Buffer
	trigger *countingTrigger
}

func baseConfig(dir string) *config.Config {
	c := &config.Config{
		Version:         config.APIVersion,
		Backend:         config.Backend{Type: "env"},
		MountPath:       dir,
		RefreshInterval: config.Duration(time.Minute),
		InitTimeout:     config.Duration(30 * time.Second),
		Secrets: []config.Secret{
			{Name: "api-key", Ref: "tradepulse/exchanges/binance/api-key"},
			{Name: "postgres-tls", Ref: "tradepulse/postgres-tls", Format: config.FormatJSON,
				Fields: map[string]string{"ca": "ca.crt", "cert": "tls.crt", "key": "tls.key"}},
			{Name: "mlflow.env", Ref: "tradepulse/mlflow", Format: config.FormatEnv, Mode: 0o440},
			{Name: "wandb.env", Ref: "tradepulse/wandb", Format: config.FormatEnv, Optional: true},
		},
	}
	c.Normalize(nil)
	return c
}

func newHarness(t *testing.T, b backend.Backend, fake *fakeBackend, edit func(*config.Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	cfg := baseConfig(dir)
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	dir = cfg.MountPath
	logs := &testkit.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	vol, err := sink.New(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	trig := &countingTrigger{}
	a := New(Options{Config: cfg, Backend: b, Volume: vol, Notify: trig, Metrics: metrics.New(reg), Log: log, Mode: "sidecar"})
	return &harness{t: t, agent: a, fake: fake, dir: dir, reg: reg, logs: logs, trigger: trig}
}

func seed(f *fakeBackend) {
	f.set("tradepulse/exchanges/binance/api-key", "key-"+sentinel)
	f.set("tradepulse/postgres-tls", `{"ca":"CA","cert":"CERT","key":"KEY-`+sentinel+`"}`)
	f.set("tradepulse/mlflow", `{"MLFLOW_TRACKING_URI":"http://mlflow:5000","MLFLOW_TRACKING_PASSWORD":"`+sentinel+`"}`)
	f.set("tradepulse/wandb", `{"WANDB_API_KEY":"w"}`)
}

func (h *harness) read(path string) (string, bool) {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.dir, path))
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b), true
}

func (h *harness) mustRead(path, want string) {
	h.t.Helper()
	got, ok := h.read(path)
	if !ok {
		h.t.Fatalf("%s missing", path)
	}
	if got != want {
		h.t.Fatalf("%s = %q, want %q", path, got, want)
	}
}

func (h *harness) gauge(name, secret string) float64 {
	h.t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "secret" && l.GetValue() == secret {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	h.t.Fatalf("no %s{secret=%q}", name, secret)
	return 0
}

func (h *harness) refreshes(secret, result string) float64 {
	return testutil.ToFloat64(h.agent.metrics.Refreshes.WithLabelValues(secret, h.agent.backendName, result))
}

// runSidecar starts the sidecar loop and returns a stop func that waits
// for it to return.
func (h *harness) runSidecar(ctx context.Context) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.agent.RunSidecar(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("RunSidecar: %v", err)
		}
	}
}

func TestInitWritesEverySecretWithItsMode(t *testing.T) {
	f := newFake()
	seed(f)
	h := newHarness(t, f, f, nil)
	if err := h.agent.RunInit(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.mustRead("api-key", "key-"+sentinel)
	h.mustRead("postgres-tls/ca.crt", "CA")
	h.mustRead("postgres-tls/tls.crt", "CERT")
	h.mustRead("postgres-tls/tls.key", "KEY-"+sentinel)
	h.mustRead("wandb.env", "WANDB_API_KEY=w\n")
	modes := map[string]os.FileMode{"api-key": 0o400, "postgres-tls/tls.key": 0o400, "mlflow.env": 0o440}
	for path, want := range modes {
		fi, err := os.Stat(filepath.Join(h.dir, path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	if !h.agent.Ready() {
		t.Error("not ready after init")
	}
	if got := h.gauge("secret_rotation_status", "api-key"); got != 1 {
		t.Errorf("secret_rotation_status = %v, want 1", got)
	}
}

func TestInitFailsClosedNamingWhatIsMissing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		seed(f)
		f.fail("tradepulse/postgres-tls", backend.ErrDenied)
		f.remove("tradepulse/exchanges/binance/api-key")
		f.fail("tradepulse/wandb", errors.New("connection refused")) // optional: must not block
		h := newHarness(t, f, f, nil)
		start := time.Now()
		err := h.agent.RunInit(context.Background())
		if err == nil {
			t.Fatal("init succeeded with required secrets missing")
		}
		if waited := time.Since(start); waited < 30*time.Second || waited > 31*time.Second {
			t.Errorf("init gave up after %s, want the 30s init timeout", waited)
		}
		msg := err.Error()
		for _, want := range []string{"api-key (tradepulse/exchanges/binance/api-key)", "secret not found",
			"postgres-tls (tradepulse/postgres-tls)", "access denied"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error does not say %q:\n%s", want, msg)
			}
		}
		if strings.Contains(msg, "wandb") {
			t.Errorf("error names the optional secret:\n%s", msg)
		}
		if _, ok := h.read("mlflow.env"); ok {
			t.Error("init wrote a partial payload although it failed")
		}
		// Retries were spaced by backoff, not a hot loop.
		if n, _ := f.count("tradepulse/exchanges/binance/api-key"); n < 3 || n > 12 {
			t.Errorf("%d fetches of the missing secret in 30s, want a few with backoff", n)
		}
	})
}

func TestInitRetriesUntilTheSecretIsProvisioned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		seed(f)
		f.fail("tradepulse/postgres-tls", errors.New("503 service unavailable"))
		h := newHarness(t, f, f, nil)
		go func() {
			time.Sleep(5 * time.Second)
			f.heal("tradepulse/postgres-tls")
		}()
		if err := h.agent.RunInit(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.mustRead("postgres-tls/tls.key", "KEY-"+sentinel)
	})
}

func TestSidecarPicksUpNewVersionWithinOneInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		seed(f)
		h := newHarness(t, f, f, nil)
		stop := h.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		h.mustRead("api-key", "key-"+sentinel)
		before := h.gauge("secret_last_success_timestamp_seconds", "api-key")
		notified := h.trigger.count()

		f.set("tradepulse/exchanges/binance/api-key", "rotated")
		time.Sleep(time.Minute + 7*time.Second) // interval + 10% jitter
		synctest.Wait()
		h.mustRead("api-key", "rotated")
		if got := h.trigger.count(); got != notified+1 {
			t.Errorf("app told %d times for one rotation", got-notified)
		}
		if got := h.gauge("secret_rotation_status", "api-key"); got != 1 {
			t.Errorf("status %v after rotation, want 1", got)
		}
		if after := h.gauge("secret_last_success_timestamp_seconds", "api-key"); after <= before {
			t.Errorf("last success did not move: %v then %v", before, after)
		}
	})
}

func TestUnchangedVersionCostsOneVersionCallAndNoSwap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		seed(f)
		h := newHarness(t, f, f, nil)
		stop := h.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		fetches, versions := f.count("tradepulse/mlflow")
		notified := h.trigger.count()
		target, _ := os.Readlink(filepath.Join(h.dir, "..data"))

		time.Sleep(10 * time.Minute)
		synctest.Wait()
		f2, v2 := f.count("tradepulse/mlflow")
		if f2 != fetches {
			t.Errorf("%d fetches of an unchanged secret in 10 intervals", f2-fetches)
		}
		if calls := v2 - versions; calls < 9 || calls > 11 {
			t.Errorf("%d version checks in 10 min at a 1m interval", calls)
		}
		if h.trigger.count() != notified {
			t.Error("app told although nothing changed")
		}
		if now, _ := os.Readlink(filepath.Join(h.dir, "..data")); now != target {
			t.Errorf("payload swapped (%s -> %s) although nothing changed", target, now)
		}
		if got := h.refreshes("mlflow.env", metrics.ResultUnchanged); got < 9 {
			t.Errorf("secret_refresh_total{result=unchanged} = %v", got)
		}
	})
}

func TestGoneRemovesTheFileAndRecovers(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{{"deleted", backend.ErrNotFound}, {"denied", backend.ErrDenied}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake()
				seed(f)
				h := newHarness(t, versionless{f}, f, nil)
				stop := h.runSidecar(t.Context())
				defer stop()
				synctest.Wait()
				h.mustRead("api-key", "key-"+sentinel)

				f.fail("tradepulse/exchanges/binance/api-key", tc.err)
				time.Sleep(67 * time.Second)
				synctest.Wait()
				if _, ok := h.read("api-key"); ok {
					t.Fatal("file still there after the secret was " + tc.name)
				}
				if got := h.gauge("secret_rotation_status", "api-key"); got != 0 {
					t.Errorf("status %v, want 0", got)
				}
				h.mustRead("postgres-tls/tls.crt", "CERT") // the others stay

				f.set("tradepulse/exchanges/binance/api-key", "reissued")
				time.Sleep(backoffMax + time.Second)
				synctest.Wait()
				h.mustRead("api-key", "reissued")
				if got := h.gauge("secret_rotation_status", "api-key"); got != 1 {
					t.Errorf("status %v after recovery, want 1", got)
				}
			})
		})
	}
}

func TestTransientErrorKeepsLastGoodValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		seed(f)
		h := newHarness(t, versionless{f}, f, nil)
		stop := h.runSidecar(t.Context())
		defer stop()
		synctest.Wait()

		f.fail("tradepulse/exchanges/binance/api-key", errors.New("dial tcp: connection refused"))
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		h.mustRead("api-key", "key-"+sentinel)
		if got := h.gauge("secret_rotation_status", "api-key"); got != 0 {
			t.Errorf("status %v while failing, want 0", got)
		}
		st := h.agent.Status().Secrets[0]
		if st.Name != "api-key" || st.OK || !strings.Contains(st.LastError, "connection refused") {
			t.Errorf("status = %+v", st)
		}
		// Backoff: failures are retried, but not hammered.
		if n, _ := f.count("tradepulse/exchanges/binance/api-key"); n > 15 {
			t.Errorf("%d fetches in 5 minutes of outage", n)
		}
		f.heal("tradepulse/exchanges/binance/api-key")
		time.Sleep(backoffMax + time.Second)
		synctest.Wait()
		if got := h.gauge("secret_rotation_status", "api-key"); got != 1 {
			t.Errorf("status %v after the backend returned, want 1", got)
		}
	})
}

func TestRenderErrorKeepsLastGoodValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		seed(f)
		h := newHarness(t, f, f, nil)
		stop := h.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		f.set("tradepulse/postgres-tls", `{"ca": "CA", `+sentinel) // not JSON
		time.Sleep(67 * time.Second)
		synctest.Wait()
		h.mustRead("postgres-tls/tls.crt", "CERT")
		if got := h.gauge("secret_rotation_status", "postgres-tls"); got != 0 {
			t.Errorf("status %v, want 0", got)
		}
	})
}

func TestWatcherWakeRefreshesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		seed(f)
		w := &wakingBackend{fakeBackend: f, wake: make(chan struct{})}
		h := newHarness(t, w, f, nil)
		stop := h.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		f.set("tradepulse/exchanges/binance/api-key", "edited")
		w.wake <- struct{}{}
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		h.mustRead("api-key", "edited")
	})
}

type wakingBackend struct {
	*fakeBackend
	wake chan struct{}
}

func (w *wakingBackend) Watch(ctx context.Context, changed func()) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.wake:
			changed()
		}
	}
}

func TestSecretValuesNeverReachLogsErrorsOrMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		seed(f)
		h := newHarness(t, f, f, nil)
		stop := h.runSidecar(t.Context())
		synctest.Wait()
		// Walk every path: update, render failure, transient, gone, denied.
		f.set("tradepulse/postgres-tls", `{"ca":`+sentinel)
		f.fail("tradepulse/exchanges/binance/api-key", errors.New("transient"))
		f.fail("tradepulse/mlflow", backend.ErrDenied)
		f.remove("tradepulse/wandb")
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		if _, err := h.agent.Refresh(t.Context(), ""); err != nil {
			t.Fatal(err)
		}
		status := h.agent.Status()
		stop()

		var out strings.Builder
		out.WriteString(h.logs.String())
		for _, s := range status.Secrets {
			out.WriteString(s.LastError + s.Version)
		}
		families, _ := h.reg.Gather()
		for _, fam := range families {
			out.WriteString(fam.String())
		}
		if strings.Contains(out.String(), sentinel) {
			t.Fatalf("secret value leaked:\n%s", out.String())
		}
		if !strings.Contains(h.logs.String(), "postgres-tls") {
			t.Fatal("logs do not even name the failing secret; the check above proves nothing")
		}
	})
}

// notVersioned answers every version check with ErrNotVersioned.
type notVersioned struct{ *fakeBackend }

func (n notVersioned) Version(context.Context, string) (string, error) {
	return "", backend.ErrNotVersioned
}

func TestNotVersionedMeansFetchNotFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		seed(f)
		h := newHarness(t, notVersioned{f}, f, nil)
		stop := h.runSidecar(t.Context())
		defer stop()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if got := h.gauge("secret_rotation_status", "api-key"); got != 1 {
			t.Fatalf("status %v, want 1: a secret without a cheap version is not failing", got)
		}
		if n, _ := f.count("tradepulse/exchanges/binance/api-key"); n < 2 {
			t.Fatalf("%d fetches: the version check should have fallen back to fetching", n)
		}
	})
}
