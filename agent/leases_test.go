package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/agent/config"
)

func dbConfig(c *config.Config) {
	c.Backend = config.Backend{Type: "vault", Vault: &config.VaultBackend{RevokeGrace: config.Duration(10 * time.Second)}}
	c.Secrets = []config.Secret{{Name: "db", Ref: "database/creds/app", Format: config.FormatJSON,
		Mode: 0o400, RefreshInterval: c.RefreshInterval}}
}

func leasedFake() *fakeBackend {
	f := newFake()
	f.leaseTTL = 30 * time.Second
	f.set("database/creds/app", `{"username":"v-app-1","password":"`+sentinel+`"}`)
	return f
}

func TestLeaseIsKeptNotReissuedByPolling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := leasedFake()
		h := newHarness(t, f, f, dbConfig)
		stop := h.runSidecar(t.Context())
		defer stop()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if n, _ := f.count("database/creds/app"); n != 1 {
			t.Errorf("%d credential fetches in 10 minutes of a renewable lease, want 1", n)
		}
		st := h.agent.Status().Secrets[0]
		if st.Lease == nil || st.Lease.ID != "database/creds/app/lease-1" {
			t.Fatalf("status lease = %+v", st.Lease)
		}
		if got := counterSum(h, "secret_lease_renewals_total"); got < 1 {
			t.Errorf("no renewal counted")
		}
	})
}

func TestLeaseAtMaxTTLIsReplacedThenRevokedAfterGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := leasedFake()
		h := newHarness(t, f, f, dbConfig)
		stop := h.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		notified := h.trigger.count()

		f.endLease("database/creds/app/lease-1") // the keeper reports: fetch anew
		synctest.Wait()
		if st := h.agent.Status().Secrets[0]; st.Lease == nil || st.Lease.ID != "database/creds/app/lease-2" {
			t.Fatalf("lease after max TTL = %+v, want lease-2", st.Lease)
		}
		if h.trigger.count() != notified+1 {
			t.Error("app not told about new credentials")
		}
		if got := f.revokedLeases(); len(got) != 0 {
			t.Fatalf("old lease revoked before the grace period: %v", got)
		}
		time.Sleep(11 * time.Second)
		synctest.Wait()
		if got := f.revokedLeases(); !slices.Equal(got, []string{"database/creds/app/lease-1"}) {
			t.Fatalf("revoked %v after the grace, want lease-1", got)
		}
	})
}

func TestLeaseReplacementRetriesUntilTheBackendAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := leasedFake()
		h := newHarness(t, f, f, dbConfig)
		stop := h.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		f.fail("database/creds/app", errors.New("vault sealed"))
		f.endLease("database/creds/app/lease-1")
		synctest.Wait()
		h.mustRead("db/username", "v-app-1") // last good kept
		f.heal("database/creds/app")
		time.Sleep(backoffMax + time.Second)
		synctest.Wait()
		if st := h.agent.Status().Secrets[0]; !st.OK || st.Lease == nil || st.Lease.ID != "database/creds/app/lease-2" {
			t.Fatalf("lease not replaced after the failed attempt: %+v", st)
		}
	})
}

func TestRevokeLeasesRevokesAndReplacesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := leasedFake()
		h := newHarness(t, f, f, dbConfig)
		stop := h.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		notified := h.trigger.count()

		res, err := h.agent.RevokeLeases(t.Context(), "db")
		if err != nil {
			t.Fatal(err)
		}
		want := admin.RevokeResult{Revoked: []admin.Revocation{{Secret: "db",
			RevokedLease: "database/creds/app/lease-1", NewLease: "database/creds/app/lease-2"}}}
		if !slices.Equal(res.Revoked, want.Revoked) {
			t.Fatalf("RevokeLeases = %+v, want %+v", res, want)
		}
		if !slices.Equal(f.revokedLeases(), []string{"database/creds/app/lease-1"}) {
			t.Fatalf("revoked %v", f.revokedLeases())
		}
		if h.trigger.count() != notified+1 {
			t.Error("app not told")
		}
		if got := counterSum(h, "secret_lease_revocations_total"); got != 1 {
			t.Errorf("revocations counted %v", got)
		}
		if _, err := h.agent.RevokeLeases(t.Context(), "nope"); !errors.Is(err, admin.ErrUnknownSecret) {
			t.Errorf("unknown secret: %v", err)
		}
	})
}

func TestRevokeWithoutReplacementFailsClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := leasedFake()
		h := newHarness(t, f, f, dbConfig)
		stop := h.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		f.fail("database/creds/app", errors.New("vault sealed"))
		res, err := h.agent.RevokeLeases(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		if rv := res.Revoked[0]; rv.NewLease != "" || !strings.Contains(rv.Error, "vault sealed") {
			t.Fatalf("revocation = %+v", rv)
		}
		if _, ok := h.read("db/username"); ok {
			t.Fatal("revoked credentials left in the volume")
		}
	})
}

func TestSidecarReplacesTheInitContainersLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := leasedFake()
		h := newHarness(t, f, f, dbConfig)
		if err := h.agent.RunInit(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.mustRead("db/username", "v-app-1")
		// A new process: the sidecar, same volume, same backend.
		side := newHarness(t, f, f, func(c *config.Config) { dbConfig(c); c.MountPath = h.dir })
		f.set("database/creds/app", `{"username":"v-app-2","password":"p2"}`)
		stop := side.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		if !side.agent.Ready() {
			t.Error("sidecar not ready")
		}
		side.mustRead("db/username", "v-app-2")
		if st := side.agent.Status().Secrets[0]; !st.OK || st.Lease == nil || st.Lease.ID != "database/creds/app/lease-2" {
			t.Fatalf("sidecar status = %+v", st)
		}
		// The init container's lease dies with its token, which nobody
		// renews: it is revoked after the grace, not kept.
		time.Sleep(11 * time.Second)
		synctest.Wait()
		if got := f.revokedLeases(); !slices.Equal(got, []string{"database/creds/app/lease-1"}) {
			t.Fatalf("revoked %v, want the init container's lease-1", got)
		}
		if n, _ := f.count("database/creds/app"); n != 2 {
			t.Errorf("%d credential fetches, want 2 (init, sidecar)", n)
		}
	})
}

// A revocation that fails (Vault answering 500 just then) is retried: a
// lease given up holds live database credentials until its TTL ends.
func TestSupersededLeaseRevocationIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := leasedFake()
		h := newHarness(t, f, f, dbConfig)
		if err := h.agent.RunInit(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.revokeFails = 3
		f.mu.Unlock()
		side := newHarness(t, f, f, func(c *config.Config) { dbConfig(c); c.MountPath = h.dir })
		stop := side.runSidecar(t.Context())
		defer stop()
		time.Sleep(DefaultRevokeGrace + 2*time.Minute)
		synctest.Wait()
		if got := f.revokedLeases(); !slices.Equal(got, []string{"database/creds/app/lease-1"}) {
			t.Fatalf("revoked %v after 3 failed attempts, want lease-1", got)
		}
	})
}

// A sidecar killed before it revoked a superseded lease leaves it in the
// state file; the next sidecar in the pod revokes it, and the lease it
// inherits too, once replaced.
func TestRetiringLeaseOutlivesASidecarRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := leasedFake()
		h := newHarness(t, f, f, dbConfig)
		if err := h.agent.RunInit(context.Background()); err != nil {
			t.Fatal(err)
		}
		first := newHarness(t, f, f, func(c *config.Config) { dbConfig(c); c.MountPath = h.dir })
		stop := first.runSidecar(t.Context())
		synctest.Wait()
		stop() // killed within the grace: lease-1 not revoked yet
		if got := f.revokedLeases(); len(got) != 0 {
			t.Fatalf("revoked %v before the grace ended", got)
		}
		second := newHarness(t, f, f, func(c *config.Config) { dbConfig(c); c.MountPath = h.dir })
		stop = second.runSidecar(t.Context())
		defer stop()
		time.Sleep(DefaultRevokeGrace + time.Second)
		synctest.Wait()
		got := f.revokedLeases()
		slices.Sort(got)
		if !slices.Equal(got, []string{"database/creds/app/lease-1", "database/creds/app/lease-2"}) {
			t.Fatalf("revoked %v, want lease-1 (init's) and lease-2 (the killed sidecar's)", got)
		}
		if st := second.agent.Status().Secrets[0]; st.Lease == nil || st.Lease.ID != "database/creds/app/lease-3" {
			t.Errorf("second sidecar holds %+v, want lease-3", st.Lease)
		}
	})
}

func TestInheritedLeaseIsReplacedOnceTheBackendAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := leasedFake()
		h := newHarness(t, f, f, dbConfig)
		if err := h.agent.RunInit(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.fail("database/creds/app", errors.New("vault sealed"))
		side := newHarness(t, f, f, func(c *config.Config) { dbConfig(c); c.MountPath = h.dir })
		stop := side.runSidecar(t.Context())
		defer stop()
		synctest.Wait()
		side.mustRead("db/username", "v-app-1") // last good kept meanwhile
		f.heal("database/creds/app")
		time.Sleep(backoffMax + time.Second)
		synctest.Wait()
		if st := side.agent.Status().Secrets[0]; !st.OK || st.Lease == nil || st.Lease.ID == "database/creds/app/lease-1" {
			t.Fatalf("inherited lease not replaced after the outage: %+v", st)
		}
	})
}

func TestRevokeOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := leasedFake()
		h := newHarness(t, f, f, func(c *config.Config) { dbConfig(c); c.Backend.Vault.RevokeOnShutdown = true })
		stop := h.runSidecar(t.Context())
		synctest.Wait()
		stop()
		if !slices.Equal(f.revokedLeases(), []string{"database/creds/app/lease-1"}) {
			t.Fatalf("revoked on shutdown: %v", f.revokedLeases())
		}
	})
}

// With Vault down every revocation hangs until its deadline. Shutdown must
// still end within one deadline below the pod's grace period, however many
// leases there are: revocations run side by side under one deadline, not
// one call timeout after another.
func TestShutdownIsBoundedWhenRevocationsHang(t *testing.T) {
	for _, tc := range []struct {
		name     string
		timeout  time.Duration // Options.ShutdownTimeout
		deadline time.Duration
	}{
		{"default", 0, DefaultShutdownTimeout},
		{"configured", 5 * time.Second, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const leases = fetchConcurrency + 4 // more than run at once
				f := leasedFake()
				h := newHarness(t, f, f, func(c *config.Config) {
					dbConfig(c)
					c.Backend.Vault.RevokeOnShutdown = true
					c.Secrets = nil
					for i := range leases {
						ref := fmt.Sprintf("database/creds/app-%d", i)
						f.set(ref, `{"username":"u","password":"`+sentinel+`"}`)
						c.Secrets = append(c.Secrets, config.Secret{Name: fmt.Sprintf("db-%d", i), Ref: ref,
							Format: config.FormatJSON, Mode: 0o400, RefreshInterval: c.RefreshInterval})
					}
				})
				h.agent.shutdownTimeout = cmp.Or(tc.timeout, h.agent.shutdownTimeout)
				stop := h.runSidecar(t.Context())
				synctest.Wait()
				if n := len(h.agent.Status().Secrets); n != leases {
					t.Fatalf("%d secrets", n)
				}
				f.mu.Lock()
				f.revokeHangs = true
				f.mu.Unlock()

				start := time.Now()
				stop()
				took := time.Since(start)
				if took > tc.deadline {
					t.Errorf("shutdown took %s with Vault down, want at most %s", took, tc.deadline)
				}
				f.mu.Lock()
				calls := f.revokeCalls
				f.mu.Unlock()
				// One after another, only the first would have been tried.
				if calls != fetchConcurrency {
					t.Errorf("%d revocations tried within the deadline, want %d side by side", calls, fetchConcurrency)
				}
				if !strings.Contains(h.logs.String(), "shutdown deadline reached") && !strings.Contains(h.logs.String(), "revoking lease failed") {
					t.Errorf("nothing logged about the leases left to expire:\n%s", h.logs)
				}
			})
		})
	}
}

// counterSum sums a counter family over all its label sets.
func counterSum(h *harness, name string) float64 {
	h.t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	var sum float64
	for _, fam := range families {
		if fam.GetName() == name {
			for _, m := range fam.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// A native sidecar runs before the app: the kubelet starts the app only
// once the sidecar's startup probe passes, after its first pass. That
// pass replaces the init container's lease and rewrites the credentials,
// but there is nobody to tell, and a signal sent after the debounce would
// land on an app that has only just started. A classic sidecar starts
// beside the app, and a restarted native sidecar finds the app running:
// both tell it.
func TestSidecarFirstPassTellsTheAppOnlyWhenItMayBeRunning(t *testing.T) {
	for _, tc := range []struct {
		name      string
		native    bool
		restarted bool
		want      int // notifications for the first pass
	}{
		{"native sidecar after the init container", true, false, 0},
		{"classic sidecar", false, false, 1},
		{"native sidecar restarted", true, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := leasedFake()
				h := newHarness(t, f, f, dbConfig)
				if err := h.agent.RunInit(context.Background()); err != nil {
					t.Fatal(err)
				}
				user := 1
				sidecar := func() (*harness, func()) {
					// Each sidecar's first pass gets credentials of its own.
					user++
					f.set("database/creds/app", fmt.Sprintf(`{"username":"v-app-%d","password":"p"}`, user))
					side := newHarness(t, f, f, func(c *config.Config) { dbConfig(c); c.MountPath = h.dir })
					side.agent.nativeSidecar = tc.native
					stop := side.runSidecar(t.Context())
					synctest.Wait()
					return side, stop
				}
				if tc.restarted {
					_, stop := sidecar()
					stop()
				}
				side, stop := sidecar()
				defer stop()
				if !side.agent.Ready() {
					t.Fatal("sidecar not ready")
				}
				side.mustRead("db/username", fmt.Sprintf("v-app-%d", user)) // the first pass wrote
				if got := side.trigger.count(); got != tc.want {
					t.Errorf("first pass told the app %d times, want %d", got, tc.want)
				}

				// Later changes are told, native or not.
				lease := side.agent.Status().Secrets[0].Lease.ID
				f.endLease(lease)
				synctest.Wait()
				if got := side.trigger.count(); got != tc.want+1 {
					t.Errorf("new credentials after the first pass told the app %d times, want once", got-tc.want)
				}
			})
		})
	}
}
