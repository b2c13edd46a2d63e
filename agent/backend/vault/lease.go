package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// KeepAlive renews lease on the schedule of api.LifetimeWatcher (the
// backend's renewer: renewer.go), which renews at about 2/3 of the lease
// with jitter and stops when renewing no longer extends the lease past its
// grace period (max TTL). It calls renewed after each renewal and returns:
//
//   - nil when the lease can no longer be extended (max TTL near, or not
//     renewable), and when the token that issued it was replaced by a new
//     login (Vault revokes a token's leases when the token expires): the
//     caller fetches anew before lease.Expiry;
//   - an error wrapping backend.ErrNotFound when Vault no longer knows the
//     lease (revoked elsewhere), and the last error when renewal kept
//     failing until the lease's end;
//   - ctx.Err() when ctx ends.
//
// Transient errors do not end it: renewal is retried with backoff while
// the lease lasts, so that a Vault restart does not issue new
// credentials, yet it still returns within the grace period before the
// lease ends. Renewal asks for the lease's whole TTL each time, with
// whatever token is current: the one that issued the lease may have been
// replaced since.
func (b *Backend) KeepAlive(ctx context.Context, lease backend.Lease, renewed func(backend.Lease)) error {
	done := make(chan error, 1)
	b.HoldLease(ctx, lease, renewed, func(err error) { done <- err })
	return <-done
}

// HoldLease is KeepAlive without a goroutine of the caller's: it returns
// at once, calls renewed after each renewal and ended, once, with what
// KeepAlive would have returned. A held lease is an entry in the
// renewer's queue and a few callbacks on contexts (context.AfterFunc), so
// that 1,000 leases cost no goroutine each.
func (b *Backend) HoldLease(ctx context.Context, lease backend.Lease, renewed func(backend.Lease), ended func(error)) {
	if lease.ID == "" {
		ended(errors.New("vault: KeepAlive of a lease without an ID"))
		return
	}
	expiry := lease.Expiry
	if expiry.IsZero() {
		expiry = time.Now().Add(lease.TTL)
	}
	ttl := lease.TTL
	if ttl <= 0 {
		ttl = time.Until(expiry)
	}
	h := &hold{b: b, id: lease.ID, expiry: expiry, renewed: renewed, ended: ended}
	// Callbacks wait for h to be set up: a context that has already ended
	// calls back at once.
	h.mu.Lock()
	k, end := b.renewals.keep(lease.ID, ttl, lease.Renewable, expiry, h.onRenewal, h.onEnd)
	h.k = k
	h.stops = append(h.stops,
		context.AfterFunc(ctx, func() { h.finish(ctx.Err()) }),
		context.AfterFunc(b.alive, func() { h.finish(errors.New("vault: backend closed")) }))
	// A lease resumed from another process has no session here: it is
	// kept until Vault stops renewing it.
	if s := b.leaseSession(lease.ID); s != nil {
		h.stops = append(h.stops, context.AfterFunc(s.life, func() {
			b.log.Info("the token that issued the lease was replaced; the lease ends with it", "lease", lease.ID)
			h.finish(nil)
		}))
	}
	h.mu.Unlock()
	if end != nil {
		h.onEnd(*end)
	}
}

// hold is one HoldLease: it turns the renewer's reports into the caller's
// callbacks and ends once, whatever ends it first.
type hold struct {
	b       *Backend
	id      string
	renewed func(backend.Lease)
	ended   func(error)

	mu     sync.Mutex
	done   bool
	expiry time.Time
	k      *keptLease
	stops  []func() bool
}

func (h *hold) onRenewal(r renewal) {
	h.mu.Lock()
	if h.done {
		h.mu.Unlock()
		return
	}
	h.expiry = r.expiry
	h.mu.Unlock()
	h.b.log.Debug("lease renewed", "lease", h.id, "ttl", r.ttl)
	h.renewed(backend.Lease{ID: h.id, TTL: r.ttl, Renewable: r.renewable, Expiry: r.expiry})
}

func (h *hold) onEnd(e renewEnd) {
	h.mu.Lock()
	expiry := h.expiry
	h.mu.Unlock()
	switch {
	case e.gone && time.Until(expiry) < time.Second:
		// A renewal racing the lease's own end (its max TTL) is refused
		// like a revoked lease; only an early refusal means revoked.
		h.b.log.Info("the lease reached its end", "lease", h.id)
		h.finish(nil)
	case e.gone:
		h.finish(fmt.Errorf("lease %s: vault no longer knows it (revoked or expired): %w", h.id, backend.ErrNotFound))
	case e.err != nil:
		h.finish(fmt.Errorf("lease %s: renewal failed: %w", h.id, e.err))
	default:
		h.finish(nil)
	}
}

// finish ends the hold once: the renewer forgets the lease, the context
// callbacks are removed, and ended is called.
func (h *hold) finish(err error) {
	h.mu.Lock()
	if h.done {
		h.mu.Unlock()
		return
	}
	h.done = true
	k, stops := h.k, h.stops
	h.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	h.b.renewals.stop(k)
	h.ended(err)
}

// renewLease renews a lease by increment seconds with the current token.
func (b *Backend) renewLease(ctx context.Context, leaseID string, increment int) (*api.Secret, error) {
	return b.current().client.Sys().RenewWithContext(ctx, leaseID, increment)
}

// Revoke revokes a lease and waits until Vault has done so (sync): when
// it returns, database credentials no longer log in. A lease Vault does
// not know counts as revoked.
func (b *Backend) Revoke(ctx context.Context, leaseID string) error {
	if leaseID == "" {
		return errors.New("vault: Revoke of a lease without an ID")
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	_, err := b.call(ctx, func(c *api.Client) error {
		return c.Sys().RevokeWithOptionsWithContext(ctx, &api.RevokeOptions{LeaseID: leaseID, Sync: true})
	})
	if err != nil {
		return fmt.Errorf("lease %s: revoke: %w", leaseID, classifyLease(err))
	}
	b.forgetLease(leaseID)
	b.log.Info("lease revoked", "lease", leaseID)
	return nil
}

// classifyLease maps a lease call's error like classify, without a
// secret reference.
func classifyLease(err error) error {
	switch code := statusOf(err); code {
	case 0:
		return redact(err)
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w (vault answered %d)", backend.ErrDenied, code)
	case http.StatusBadRequest, http.StatusNotFound:
		return fmt.Errorf("%w (vault answered %d)", backend.ErrNotFound, code)
	default:
		return fmt.Errorf("vault answered %d, will retry", code)
	}
}
