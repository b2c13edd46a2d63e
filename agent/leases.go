package agent

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/metrics"
)

// DefaultShutdownTimeout bounds the work the sidecar does once told to
// stop (revoking its leases): well inside a pod's default
// terminationGracePeriodSeconds of 30 s, so that the kubelet's SIGKILL
// does not cut it short.
const DefaultShutdownTimeout = 20 * time.Second

// startKeeper keeps lease alive in the background (sidecar only). When the
// backend says the lease can no longer be renewed, the secret is fetched
// anew before the lease expires.
func (a *Agent) startKeeper(st *secretState, lease backend.Lease) {
	lk, ok := a.backend.(backend.LeaseKeeper)
	if !ok || a.runCtx == nil {
		return
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	a.mu.Lock()
	if st.stopLease != nil {
		st.stopLease()
	}
	st.stopLease = cancel
	a.mu.Unlock()
	name := st.spec.Name
	renewed := func(renewed backend.Lease) {
		a.mu.Lock()
		if st.lease != nil && st.lease.ID == renewed.ID {
			l := renewed
			st.lease = &l
		}
		a.mu.Unlock()
		a.metrics.LeaseRenewals.WithLabelValues(name, a.backendName, metrics.ResultOK).Inc()
		a.metrics.LeaseExpiry.WithLabelValues(name, a.backendName).Set(unixSeconds(renewed.Expiry))
	}
	ended := func(err error) {
		defer a.bg.Done()
		defer cancel()
		a.keeperEnded(ctx, st, lease, err)
	}
	a.bg.Add(1)
	// A LeaseHolder keeps the lease without a goroutine of ours: with
	// 1,000 leases that is 1,000 goroutines fewer.
	if lh, ok := lk.(backend.LeaseHolder); ok {
		lh.HoldLease(ctx, lease, renewed, ended)
		return
	}
	go func() { ended(lk.KeepAlive(ctx, lease, renewed)) }()
}

// keeperEnded follows the end of a lease's keeping: unless the agent
// stopped it, the secret is fetched anew.
func (a *Agent) keeperEnded(ctx context.Context, st *secretState, lease backend.Lease, err error) {
	if ctx.Err() != nil {
		return
	}
	name := st.spec.Name
	if err != nil {
		a.metrics.LeaseRenewals.WithLabelValues(name, a.backendName, metrics.ResultError).Inc()
		a.log.Warn("lease renewal failed; fetching new credentials", "secret", name, "lease", lease.ID, "err", err)
	} else {
		a.log.Info("lease cannot be renewed further; fetching new credentials", "secret", name, "lease", lease.ID)
	}
	a.mu.Lock()
	if st.lease != nil && st.lease.ID == lease.ID {
		// Nobody keeps this lease any more: the loop replaces it, and
		// retries with backoff until that succeeds.
		st.stopLease = nil
	}
	st.needFetch = true
	a.mu.Unlock()
	kick(st)
}

// leaseMoved follows a refresh: a new lease gets a keeper and the old one
// is revoked after the grace period, once the app has had time to move to
// the new credentials.
func (a *Agent) leaseMoved(st *secretState, old *backend.Lease) {
	current := a.heldLease(st)
	if current == nil && old != nil {
		// Gone or denied: the files are removed; stop renewing.
		a.stopKeeper(st)
	}
	if current == nil || (old != nil && old.ID == current.ID) {
		return
	}
	a.startKeeper(st, *current)
	if old != nil {
		a.revokeLater(st.spec.Name, old.ID)
	}
}

func (a *Agent) stopKeeper(st *secretState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st.stopLease != nil {
		st.stopLease()
		st.stopLease = nil
	}
}

// revokeLater revokes a superseded lease after the grace period.
func (a *Agent) revokeLater(name, leaseID string) {
	a.retireAt(name, leaseID, time.Now().Add(a.revokeGrace()))
}

// retireAt revokes a lease at due, retrying with backoff while the
// backend fails: a lease left behind holds database credentials nobody
// uses until its TTL ends. Until it is revoked, the lease is in the state
// file, so that if this agent stops first, the next one in the pod
// revokes it; Vault answers a lease revoked twice, or expired, as not
// found, which ends the retries.
func (a *Agent) retireAt(name, leaseID string, due time.Time) {
	lk, ok := a.backend.(backend.LeaseKeeper)
	if !ok || a.runCtx == nil {
		return
	}
	a.mu.Lock()
	a.retiring[leaseID] = retiringLease{Secret: name, Due: due}
	a.mu.Unlock()
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		if sleep(a.runCtx, time.Until(due)) != nil {
			return
		}
		for attempt := 1; ; attempt++ {
			err := a.revoke(a.runCtx, lk, name, leaseID)
			if err == nil || errors.Is(err, backend.ErrNotFound) {
				break
			}
			if sleep(a.runCtx, backoff(attempt, time.Minute)) != nil {
				return // still in the state file, for the next agent
			}
		}
		a.mu.Lock()
		delete(a.retiring, leaseID)
		a.mu.Unlock()
	}()
}

func (a *Agent) revoke(ctx context.Context, lk backend.LeaseKeeper, name, leaseID string) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	err := lk.Revoke(ctx, leaseID)
	result := metrics.ResultOK
	if err != nil {
		result = metrics.ResultError
		a.log.Warn("revoking lease failed", "secret", name, "lease", leaseID, "err", err)
	} else {
		a.log.Info("lease revoked", "secret", name, "lease", leaseID)
	}
	a.metrics.LeaseRevocations.WithLabelValues(name, a.backendName, result).Inc()
	return err
}

// RevokeLeases revokes the lease of the named secret (all leased secrets
// when name is empty), fetches fresh credentials at once, writes them and
// tells the app. Credentials that cannot be replaced are removed: a revoked
// secret fails closed.
func (a *Agent) RevokeLeases(ctx context.Context, name string) (admin.RevokeResult, error) {
	targets, err := a.selectSecrets(name)
	if err != nil {
		return admin.RevokeResult{}, err
	}
	lk, ok := a.backend.(backend.LeaseKeeper)
	var res admin.RevokeResult
	for _, st := range targets {
		if !ok || a.heldLease(st) == nil {
			continue
		}
		res.Revoked = append(res.Revoked, a.revokeAndReplace(ctx, lk, st))
	}
	if len(res.Revoked) == 0 {
		if name == "" {
			return res, admin.ErrNoLeases
		}
		return res, errors.Join(admin.ErrNoLeases, errors.New("secret "+name+" holds no lease"))
	}
	return res, nil
}

func (a *Agent) revokeAndReplace(ctx context.Context, lk backend.LeaseKeeper, st *secretState) admin.Revocation {
	st.refreshMu.Lock()
	defer st.refreshMu.Unlock()
	old := a.heldLease(st)
	rv := admin.Revocation{Secret: st.spec.Name, RevokedLease: old.ID}
	if err := a.revoke(ctx, lk, st.spec.Name, old.ID); err != nil {
		rv.RevokedLease, rv.Error = "", "revoke "+old.ID+": "+err.Error()
		return rv
	}
	a.stopKeeper(st)
	a.mu.Lock()
	st.lease = nil
	a.mu.Unlock()
	a.refresh(ctx, st, true)
	if lease := a.heldLease(st); lease != nil {
		rv.NewLease = lease.ID
		a.startKeeper(st, *lease)
	} else if !a.isOK(st) {
		// The revoked credentials are useless: remove them rather than
		// leave the app with a login that fails.
		a.mu.Lock()
		st.files, st.version, st.ok = nil, "", false
		rv.Error = "fetching new credentials failed: " + st.lastError
		a.mu.Unlock()
		a.metrics.Status(st.spec.Name, a.backendName, false, time.Now())
	}
	if _, err := a.sync(); err != nil && rv.Error == "" {
		rv.Error = err.Error()
	}
	return rv
}

// revokeOnShutdown revokes every held lease when the config asks for it,
// fetchConcurrency at a time, all within one deadline (a.shutdownTimeout)
// that ends before the pod's grace period does: with the backend down,
// shutdown takes that long, not one call timeout per lease. A lease not
// revoked by then is left to expire on its own.
func (a *Agent) revokeOnShutdown() {
	lk, ok := a.backend.(backend.LeaseKeeper)
	if !ok || !a.revokesOnShutdown() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.shutdownTimeout)
	defer cancel()
	type heldLease struct{ secret, id string }
	var held []heldLease
	for _, st := range a.secrets {
		if lease := a.heldLease(st); lease != nil {
			held = append(held, heldLease{st.spec.Name, lease.ID})
		}
	}
	var revoked atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		var g errgroup.Group
		g.SetLimit(fetchConcurrency)
		for _, l := range held {
			if ctx.Err() != nil {
				break
			}
			g.Go(func() error {
				if ctx.Err() != nil {
					return nil // the deadline passed while this waited for a slot
				}
				if a.revoke(ctx, lk, l.secret, l.id) == nil {
					revoked.Add(1)
				}
				return nil
			})
		}
		_ = g.Wait()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// A backend call that ignores its context must not hold the pod
		// past its grace period.
		a.log.Warn("shutdown deadline reached; leases not revoked yet are left to expire",
			"deadline", a.shutdownTimeout, "leases", len(held), "revoked", revoked.Load())
	}
}
