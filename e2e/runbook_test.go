package e2e

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/e2e/bed"
)

// provision writes every runbook secret into the backend.
func provision(t *testing.T, rb bed.Runbook, b bed.Backend) {
	t.Helper()
	if err := rb.Provision(testContext(t, 30*time.Second), b); err != nil {
		t.Fatal(err)
	}
}

// forEachBackend runs f once per backend, in parallel.
func forEachBackend(t *testing.T, f func(t *testing.T, b bed.Backend, ns string)) {
	names := backends(t)
	printWebhookLogsOnFailure(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, theBed.Backends[name], newNamespace(t, "e2e-"+name))
		})
	}
}

// Scenario 1, bootstrap: every runbook file, with its mode, exists before
// the app starts.
func TestBootstrap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b bed.Backend, ns string) {
		ctx := testContext(t, 2*time.Minute)
		rb := bed.NewRunbook("binance")
		provision(t, rb, b)
		p := createPod(t, ctx, podCase{name: "trading-engine", backend: b, ns: ns, annotations: rb.Annotations(b, "1m")}, rb.Values()...)
		if err := p.WaitRunning(60 * time.Second); err != nil {
			t.Fatal(err)
		}
		got, err := p.App.FilesAtStart()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(rb.Files(), got); diff != "" {
			t.Errorf("files the app found at start (-want +got):\n%s", diff)
		}
		if c := p.Container("secret-injector-init"); c != nil {
			t.Errorf("an init container ran: a native sidecar fills the volume itself before the app starts")
		}
		for _, s := range []string{"postgres-tls", "binance-api-key", "mlflow.env", "wandb.env"} {
			if v := p.metric(t, ctx, "secret_rotation_status", map[string]string{"secret": s, "backend": b.Name()}); v != 1 {
				t.Errorf("secret_rotation_status{secret=%q} = %v, want 1", s, v)
			}
		}
	})
}

// Scenario 2, rotation: a new version reaches the file within one refresh
// interval, the app is told once, the status stays 1 and the last success
// moves.
func TestRotation(t *testing.T) {
	const interval = 2 * time.Second
	forEachBackend(t, func(t *testing.T, b bed.Backend, ns string) {
		ctx := testContext(t, 2*time.Minute)
		rb := bed.NewRunbook("kraken")
		provision(t, rb, b)
		rotated := "ak2-" + token()
		p := createPod(t, ctx, podCase{name: "trading-engine", backend: b, ns: ns, annotations: rb.Annotations(b, interval.String())},
			append(rb.Values(), rotated)...)
		if err := p.WaitRunning(60 * time.Second); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"secret": "kraken-api-key", "backend": b.Name()}
		// Settle: a refresh has succeeded since the sidecar started.
		var before float64
		eventually(t, ctx, 3*interval, "a first successful refresh", func() bool {
			before = p.metric(t, ctx, "secret_last_success_timestamp_seconds", labels)
			return before > 0
		})
		reloads := p.App.Reloads()
		file := filepath.Join(p.SecretsDir(), "kraken-api-key")

		if err := b.Put(ctx, rb.KeyPath(), []byte(rotated), false); err != nil {
			t.Fatal(err)
		}
		putAt := time.Now()
		// The status is sampled all along and must never drop. The wait is
		// generous; the claim is checked on the file's own write time, so
		// that the suite's polling on a loaded machine does not count.
		eventually(t, ctx, 3*interval+10*time.Second, "the rotated value in the file", func() bool {
			if v := p.metric(t, ctx, "secret_rotation_status", labels); v != 1 {
				t.Fatalf("secret_rotation_status = %v during rotation, want 1", v)
			}
			data, err := os.ReadFile(file)
			return err == nil && string(data) == rotated
		})
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		took := st.ModTime().Sub(putAt)
		t.Logf("%s: rotated value written %s after the backend changed (interval %s)", b.Name(), took.Round(10*time.Millisecond), interval)
		// One interval (+10% jitter), plus a fetch and a write on a busy
		// machine.
		if limit := interval*11/10 + 1500*time.Millisecond; took > limit {
			t.Errorf("the rotated value reached the file %s after the backend changed, more than one refresh interval (%s, limit %s)", took, interval, limit)
		}
		// Told once: after the debounce (2 s) one call, and no second one.
		eventually(t, ctx, 10*time.Second, "the app told of the rotation", func() bool { return p.App.Reloads() > reloads })
		quiet := time.Now().Add(3 * time.Second)
		for time.Now().Before(quiet) {
			if n := p.App.Reloads() - reloads; n != 1 {
				t.Fatalf("the app was told %d times, want once", n)
			}
			time.Sleep(200 * time.Millisecond)
		}
		files, err := p.App.Files()
		if err != nil {
			t.Fatal(err)
		}
		if got := files["kraken-api-key"].Data; got != rotated {
			t.Errorf("after its reload the app reads the old api key")
		}
		if v := p.metric(t, ctx, "secret_rotation_status", labels); v != 1 {
			t.Errorf("secret_rotation_status = %v after rotation, want 1", v)
		}
		if after := p.metric(t, ctx, "secret_last_success_timestamp_seconds", labels); after <= before {
			t.Errorf("secret_last_success_timestamp_seconds did not move: %v, then %v", before, after)
		}
	})
}

// Scenario 4, emergency revocation of an exchange key: deleted in the
// backend, the file goes (fail closed) and the status drops to 0; a new
// pod's init blocks; re-provisioned, both recover.
func TestEmergencyRevocation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b bed.Backend, ns string) {
		ctx := testContext(t, 3*time.Minute)
		rb := bed.NewRunbook("coinbase")
		provision(t, rb, b)
		ann := rb.Annotations(b, "1s")
		first := createPod(t, ctx, podCase{name: "trading-engine", backend: b, ns: ns, annotations: ann}, rb.Values()...)
		if err := first.WaitRunning(60 * time.Second); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"secret": "coinbase-api-key", "backend": b.Name()}
		file := filepath.Join(first.SecretsDir(), "coinbase-api-key")

		if err := b.Delete(ctx, rb.KeyPath()); err != nil {
			t.Fatal(err)
		}
		eventually(t, ctx, 10*time.Second, "the revoked key's file removed and its status 0", func() bool {
			_, err := os.Lstat(file)
			return errors.Is(err, fs.ErrNotExist) && p0(t, ctx, first, labels) == 0
		})
		if _, err := os.Stat(filepath.Join(first.SecretsDir(), "coinbase-api-secret")); err != nil {
			t.Errorf("the api secret, still provisioned, was removed too: %v", err)
		}

		// A new pod fails closed: its init container keeps retrying and the
		// app does not start.
		second := createPod(t, ctx, podCase{name: "trading-engine-2", backend: b, ns: ns, annotations: ann}, rb.Values()...)
		hold := time.Now().Add(3 * time.Second)
		for time.Now().Before(hold) {
			if second.App.Started() {
				t.Fatal("the new pod's app started without its exchange key")
			}
			if ph, err := second.Phase(); err != nil {
				t.Fatalf("the new pod's init gave up early (%s): %v", ph, err)
			}
			time.Sleep(200 * time.Millisecond)
		}

		restored := "ak3-" + token()
		if err := b.Put(ctx, rb.KeyPath(), []byte(restored), false); err != nil {
			t.Fatal(err)
		}
		if err := second.WaitRunning(60 * time.Second); err != nil {
			t.Fatal(err)
		}
		got, err := second.App.FilesAtStart()
		if err != nil {
			t.Fatal(err)
		}
		if got["coinbase-api-key"].Data != restored {
			t.Errorf("the new pod started without the re-provisioned key")
		}
		eventually(t, ctx, 15*time.Second, "the first pod recovered: file back, status 1", func() bool {
			data, err := os.ReadFile(file)
			return err == nil && string(data) == restored && p0(t, ctx, first, labels) == 1
		})
	})
}

// p0 reads secret_rotation_status, -1 when absent.
func p0(t *testing.T, ctx context.Context, r *running, labels map[string]string) float64 {
	v, ok, err := r.sidecar(t).Metric(ctx, "secret_rotation_status", labels)
	if err != nil || !ok {
		return -1
	}
	return v
}
