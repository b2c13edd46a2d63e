package agent

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/metrics"
)

// POST /v1/refresh fetches without the cheap version check; what it
// reports must still tell a secret that changed from one that did not.
func TestRefreshReportsUnchangedSecretsAsUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(*fakeBackend) backend.Backend
	}{
		{"versioned backend", func(f *fakeBackend) backend.Backend { return f }},
		{"backend without versions", func(f *fakeBackend) backend.Backend { return versionless{f} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake()
				seed(f)
				h := newHarness(t, tc.wrap(f), f, nil)
				stop := h.runSidecar(t.Context())
				defer stop()
				synctest.Wait()
				notified := h.trigger.count()
				fetches, _ := f.count("tradepulse/exchanges/binance/api-key")

				results := func(name string) map[string]string {
					t.Helper()
					res, err := h.agent.Refresh(t.Context(), name)
					if err != nil {
						t.Fatal(err)
					}
					got := map[string]string{}
					for _, s := range res.Secrets {
						got[s.Name] = s.Result
					}
					return got
				}
				want := map[string]string{"api-key": metrics.ResultUnchanged, "postgres-tls": metrics.ResultUnchanged,
					"mlflow.env": metrics.ResultUnchanged, "wandb.env": metrics.ResultUnchanged}
				if diff := cmp.Diff(want, results("")); diff != "" {
					t.Errorf("refresh of unchanged secrets (-want +got):\n%s", diff)
				}
				if n, _ := f.count("tradepulse/exchanges/binance/api-key"); n != fetches+1 {
					t.Errorf("refresh fetched %d times, want once: it skips the version check", n-fetches)
				}
				if got := h.refreshes("api-key", metrics.ResultUpdated); got != 1 {
					t.Errorf("secret_refresh_total{result=updated} = %v after refreshing an unchanged secret, want the first pass's 1", got)
				}

				f.set("tradepulse/exchanges/binance/api-key", "rotated")
				if diff := cmp.Diff(map[string]string{"api-key": metrics.ResultUpdated}, results("api-key")); diff != "" {
					t.Errorf("refresh of a changed secret (-want +got):\n%s", diff)
				}
				h.mustRead("api-key", "rotated")
				time.Sleep(time.Second)
				if got := h.trigger.count(); got != notified+1 {
					t.Errorf("app told %d times, want once, for the one change", got-notified)
				}
			})
		})
	}
}
