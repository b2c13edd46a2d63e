package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/podrunner"
)

var (
	theBed *bed.Bed
	bedErr error
)

var errShort = errors.New("-short: the end-to-end suite needs its bed")

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// make unit's fast lane: no servers.
		bedErr = errShort
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	start := time.Now()
	var stop func()
	theBed, stop, bedErr = bed.Start(ctx, bed.Options{Log: os.Stderr})
	cancel()
	if bedErr == nil {
		fmt.Fprintf(os.Stderr, "e2e bed up in %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// needBed returns the bed; without the tools it skips locally and fails in
// CI, so CI never passes by skipping.
func needBed(t *testing.T) *bed.Bed {
	t.Helper()
	if errors.Is(bedErr, errShort) {
		t.Skip(bedErr)
	}
	if bedErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("e2e bed: %v", bedErr)
		}
		t.Skipf("e2e bed: %v", bedErr)
	}
	return theBed
}

// backends are the backends the shared scenarios run against: all four in
// CI, where a missing Vault bed is a failure.
func backends(t *testing.T) []string {
	b := needBed(t)
	names := []string{"env", "gcp", "aws"}
	if b.Vault != nil {
		return append(names, "vault")
	}
	msg := fmt.Sprintf("vault bed absent (%s unset): %s", strings.Join(b.VaultMissing, ", "), bed.VaultEnvHint)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Log("skipping the vault cases: " + msg)
	return names
}

func needVault(t *testing.T) *bed.Vault {
	b := needBed(t)
	if b.Vault == nil {
		msg := fmt.Sprintf("vault bed absent (%s unset): %s", strings.Join(b.VaultMissing, ", "), bed.VaultEnvHint)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return b.Vault
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func token() string { return bed.Token() }

// podCase describes an opted-in pod.
type podCase struct {
	name string
	// serviceAccount defaults to bed.PodServiceAccount.
	serviceAccount string
	backend        bed.Backend
	ns             string
	annotations    map[string]string // secret annotations, without prefix
}

// running is a pod created through the API server and run by the runner.
type running struct {
	*podrunner.Pod
	App *podrunner.App
	// values are the secret values that must not appear in its logs.
	values []string
}

// secret adds values (learnt after the pod started, such as dynamic
// credentials) to those that must not appear in the pod's logs.
func (r *running) secret(values ...string) { r.values = append(r.values, values...) }

// createPod creates the pod through the API server (so through the
// webhook) and starts it in the pod runner; it does not wait for it.
// Logs of its containers and of the webhook are printed if t fails; no
// value of values may appear in them.
func createPod(t *testing.T, ctx context.Context, pc podCase, values ...string) *running {
	t.Helper()
	b := needBed(t)
	app, err := podrunner.NewApp()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	p, err := b.RunPod(ctx, bed.PodSpec{Name: pc.name, Namespace: pc.ns, ServiceAccount: pc.serviceAccount, Annotations: pc.annotations},
		pc.backend, app)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{Pod: p, App: app, values: values}
	t.Cleanup(func() {
		p.Stop()
		logs := p.Logs()
		for _, v := range r.values {
			if v != "" && strings.Contains(logs, v) {
				t.Errorf("pod %s: a secret value appears in the agents' logs", pc.name)
			}
		}
		if t.Failed() {
			t.Logf("pod %s logs:\n%s", pc.name, logs)
		}
	})
	return r
}

// printWebhookLogsOnFailure registers the webhook's logs for a failing test.
func printWebhookLogsOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("webhook logs:\n%s", theBed.WebhookLogs())
		}
	})
}

// sidecar is the running native sidecar of r.
func (r *running) sidecar(t *testing.T) *podrunner.Container {
	t.Helper()
	c := r.Container("secret-injector-agent")
	if c == nil {
		t.Fatal("no sidecar running")
	}
	return c
}

// metric reads one sample from the sidecar's /metrics.
func (r *running) metric(t *testing.T, ctx context.Context, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok, err := r.sidecar(t).Metric(ctx, name, labels)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	if !ok {
		t.Fatalf("no sample %s%v", name, labels)
	}
	return v
}

// status reads the sidecar's GET /v1/status and returns the named secret's
// entry.
func (r *running) status(t *testing.T, ctx context.Context, secret string) admin.SecretStatus {
	t.Helper()
	code, body, err := r.sidecar(t).Admin(ctx, http.MethodGet, "/v1/status")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /v1/status: %d %v", code, err)
	}
	var st admin.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("GET /v1/status: %v", err)
	}
	for _, s := range st.Secrets {
		if s.Name == secret {
			return s
		}
	}
	t.Fatalf("GET /v1/status has no secret %q", secret)
	return admin.SecretStatus{}
}

// newNamespace creates a namespace with the pods' service account.
func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns, err := needBed(t).NewNamespace(testContext(t, 10*time.Second), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// eventually polls cond every 100 ms for at most d.
func eventually(t *testing.T, ctx context.Context, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := bed.Wait(ctx, d, func() (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
