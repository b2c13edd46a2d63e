package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/vault/api"
)

// fakeVault answers renewals: each lease's TTL is extended up to its max
// TTL, as Vault's database engine does; fail makes calls fail with a
// status until cleared.
type fakeVault struct {
	mu     sync.Mutex
	ttl    time.Duration
	maxEnd map[string]time.Time
	calls  map[string][]time.Time
	fail   int // an HTTP status, or -1 for a network error
}

func newFakeVault(ttl time.Duration) *fakeVault {
	return &fakeVault{ttl: ttl, maxEnd: map[string]time.Time{}, calls: map[string][]time.Time{}}
}

func (f *fakeVault) issue(id string, maxTTL time.Duration) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxEnd[id] = time.Now().Add(maxTTL)
	return time.Now().Add(f.ttl)
}

func (f *fakeVault) renew(_ context.Context, id string, increment int) (*api.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[id] = append(f.calls[id], time.Now())
	switch {
	case f.fail == -1:
		return nil, errors.New("connection refused")
	case f.fail != 0:
		return nil, &api.ResponseError{StatusCode: f.fail}
	}
	end, ok := f.maxEnd[id]
	if !ok {
		return nil, &api.ResponseError{StatusCode: http.StatusBadRequest}
	}
	ttl := min(time.Duration(increment)*time.Second, time.Until(end).Truncate(time.Second))
	return &api.Secret{LeaseID: id, LeaseDuration: int(ttl / time.Second), Renewable: true}, nil
}

func (f *fakeVault) set(fail int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

func (f *fakeVault) callTimes(id string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls[id]...)
}

// keepUntilEnd keeps a lease until the renewer lets go of it and returns
// the renewals and the end.
func keepUntilEnd(r *renewer, id string, ttl time.Duration, expiry time.Time) ([]renewal, renewEnd) {
	var (
		mu  sync.Mutex
		got []renewal
	)
	done := make(chan renewEnd, 1)
	k, end := r.keep(id, ttl, true, expiry, func(rn renewal) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, rn)
	}, func(e renewEnd) { done <- e })
	defer r.stop(k)
	if end != nil {
		return nil, *end
	}
	e := <-done
	mu.Lock()
	defer mu.Unlock()
	return got, e
}

// channels keeps a lease and reports it on channels.
func channels(r *renewer, id string, ttl time.Duration, expiry time.Time) (*keptLease, chan renewal, chan renewEnd) {
	renewed, done := make(chan renewal, 10), make(chan renewEnd, 1)
	k, end := r.keep(id, ttl, true, expiry, func(rn renewal) { renewed <- rn }, func(e renewEnd) { done <- e })
	if end != nil {
		done <- *end
	}
	return k, renewed, done
}

// The schedule of api.LifetimeWatcher: 2/3 of the lease plus a third of a
// 10–20 % grace, so 70–73 % of a 30 s lease; the lease is always renewed
// before it ends, and let go within its grace when its max TTL is near.
func TestRenewerSchedule(t *testing.T) {
	for _, jitter := range []float64{0, 0.5, 0.999} {
		t.Run(fmt.Sprint(jitter), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				v := newFakeVault(30 * time.Second)
				r := newRenewer(v.renew)
				r.jitter = func() float64 { return jitter }
				go r.run(ctx)

				start := time.Now()
				expiry := v.issue("db/creds/a/1", 5*time.Minute)
				renewals, end := keepUntilEnd(r, "db/creds/a/1", 30*time.Second, expiry)
				if end.err != nil || end.gone {
					t.Fatalf("end %+v, want the max TTL's", end)
				}
				calls := v.callTimes("db/creds/a/1")
				if len(calls) != len(renewals) || len(calls) < 10 {
					t.Fatalf("%d calls, %d renewals in 5 minutes of a 30s lease", len(calls), len(renewals))
				}
				grace := time.Duration(float64(30*time.Second) * (0.1 + 0.1*jitter))
				prev, prevEnd, prevTTL := start, expiry, 30*time.Second
				for i, c := range calls {
					// Near the max TTL a renewal extends the lease less, and
					// the next comes sooner.
					// ... and waits for the next tick of the grid.
					want := alignUp(prev.Add(time.Duration(float64(prevTTL)*2/3)+grace/3), min(renewTick, grace/4)).Sub(prev)
					if gap := c.Sub(prev); gap != want || gap > time.Duration(float64(prevTTL)*2/3)+grace/3+renewTick {
						t.Errorf("renewal %d came %s after the last, want %s (2/3 of %s + grace/3, on the next tick)", i, gap, want, prevTTL)
					}
					if !c.Before(prevEnd) {
						t.Errorf("renewal %d at %s, after the lease ended at %s", i, c.Sub(start), prevEnd.Sub(start))
					}
					prev, prevEnd, prevTTL = c, renewals[i].expiry, renewals[i].ttl
				}
				// Let go when the next renewal would land in the grace: at
				// most 4 graces before the end (left - (2/3 left + grace/3) ≤ grace).
				if left := time.Until(prevEnd); left <= 0 || left > 4*grace {
					t.Errorf("let go %s before the lease's end, want within 4 graces (%s)", left, 4*grace)
				}
			})
		})
	}
}

// A renewal Vault refuses with 400 ends the lease as gone; a refused
// (403) one keeps it until its grace; a failing Vault is retried with
// backoff and the lease let go, with the error, before its end.
func TestRenewerFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fail     int
		wantGone bool
		wantErr  bool
	}{
		{"revoked elsewhere", http.StatusBadRequest, true, false},
		{"not allowed to renew", http.StatusForbidden, false, false},
		{"vault down", -1, false, true},
		{"vault answering 503", http.StatusServiceUnavailable, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				v := newFakeVault(time.Minute)
				r := newRenewer(v.renew)
				go r.run(ctx)
				expiry := v.issue("l", time.Hour)
				v.set(tc.fail)
				start := time.Now()
				_, end := keepUntilEnd(r, "l", time.Minute, expiry)
				if end.gone != tc.wantGone || (end.err != nil) != tc.wantErr {
					t.Fatalf("end %+v, want gone %v, error %v", end, tc.wantGone, tc.wantErr)
				}
				if !time.Now().Before(expiry) {
					t.Errorf("let go at %s, after the lease's end at %s", time.Since(start), expiry.Sub(start))
				}
				calls := v.callTimes("l")
				switch {
				case tc.fail == http.StatusForbidden && len(calls) != 1:
					t.Errorf("%d calls; a refused renewal is not repeated", len(calls))
				case tc.wantErr && len(calls) < 2:
					t.Errorf("%d calls; a failing renewal is retried", len(calls))
				}
				for i := 1; i < len(calls); i++ {
					if gap := calls[i].Sub(calls[i-1]); gap < renewRetryFirst/2 {
						t.Errorf("retry %d after %s: faster than the backoff", i, gap)
					}
				}
			})
		})
	}
}

// Recovery: renewals fail for a while and then work; the lease is kept.
func TestRenewerRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		v := newFakeVault(2 * time.Minute)
		r := newRenewer(v.renew)
		r.jitter = func() float64 { return 0.5 }
		go r.run(ctx)
		k, renewed, done := channels(r, "l", 2*time.Minute, v.issue("l", time.Hour))
		defer r.stop(k)
		v.set(-1)
		time.Sleep(95 * time.Second) // the first renewal (at ~86s) fails
		v.set(0)
		select {
		case rn := <-renewed:
			if time.Until(rn.expiry) < 100*time.Second {
				t.Errorf("renewed until %s from now", time.Until(rn.expiry))
			}
		case end := <-done:
			t.Fatalf("lease let go: %+v", end)
		}
	})
}

// A stopped lease is not renewed again, and 1,000 leases are held by the
// renewer's own goroutines, not one each.
func TestRenewerManyLeasesAndStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		v := newFakeVault(30 * time.Second)
		r := newRenewer(v.renew)
		go r.run(ctx)
		var ks []*keptLease
		var ended atomic.Int64
		for i := range 1000 {
			id := fmt.Sprintf("l%d", i)
			k, end := r.keep(id, 30*time.Second, true, v.issue(id, time.Hour), func(renewal) {}, func(renewEnd) { ended.Add(1) })
			if end != nil {
				t.Fatalf("%s ended at once", id)
			}
			ks = append(ks, k)
		}
		time.Sleep(time.Minute)
		if n := ended.Load(); n != 0 {
			t.Fatalf("%d leases let go", n)
		}
		for _, k := range ks {
			r.stop(k)
		}
		n := len(v.callTimes("l0"))
		time.Sleep(2 * time.Minute)
		if m := len(v.callTimes("l0")); m != n || n < 2 {
			t.Errorf("l0: %d renewals in the first minute, %d after stop", n, m)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.queue) != 0 {
			t.Errorf("%d leases still queued after stop", len(r.queue))
		}
	})
}
