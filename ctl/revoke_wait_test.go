package ctl

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradepulse/secret-injector/agent/admin"
)

// agentAfter answers a status that changes from before to after once
// delay has passed since the first call.
func agentAfter(delay time.Duration, before, after admin.SecretStatus) (func(context.Context) (admin.Status, error), *atomic.Int32) {
	var calls atomic.Int32
	var start time.Time
	return func(context.Context) (admin.Status, error) {
		if calls.Add(1) == 1 {
			start = time.Now()
		}
		s := before
		if time.Since(start) >= delay {
			s = after
		}
		return admin.Status{Secrets: []admin.SecretStatus{s}}, nil
	}, &calls
}

func TestWaitFresh(t *testing.T) {
	revoked := []admin.Revocation{{Secret: "db", RevokedLease: "database/creds/app/old", NewLease: "database/creds/app/new"}}
	old := admin.SecretStatus{Name: "db", OK: true, Lease: &admin.LeaseStatus{ID: "database/creds/app/old"}}
	fresh := admin.SecretStatus{Name: "db", OK: true, Lease: &admin.LeaseStatus{ID: "database/creds/app/new"}}
	failing := admin.SecretStatus{Name: "db", OK: false, LastError: "permission denied"}

	t.Run("fresh credentials after 2s: polled every 500ms", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			status, calls := agentAfter(2*time.Second, old, fresh)
			start := time.Now()
			if err := waitFresh(t.Context(), status, revoked, pollInterval); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took != 2*time.Second {
				t.Errorf("took %s, want 2s", took)
			}
			if n := calls.Load(); n != 5 {
				t.Errorf("%d status calls, want 5 (0s … 2s every 500ms)", n)
			}
		})
	})
	t.Run("timeout says what is still missing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			status, _ := agentAfter(time.Hour, failing, fresh)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := waitFresh(ctx, status, revoked, pollInterval)
			want := "no fresh credentials within --timeout: secret db: permission denied"
			if err == nil || err.Error() != want {
				t.Fatalf("error %v, want %q", err, want)
			}
		})
	})
	t.Run("still on the revoked lease", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			status, _ := agentAfter(time.Hour, old, fresh)
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			err := waitFresh(ctx, status, revoked, pollInterval)
			if err == nil || !strings.HasSuffix(err.Error(), "secret db: still on the revoked lease") {
				t.Fatalf("error %v", err)
			}
		})
	})
	t.Run("interrupted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			status, _ := agentAfter(time.Hour, old, fresh)
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(time.Second, cancel)
			err := waitFresh(ctx, status, revoked, pollInterval)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
		})
	})
}
