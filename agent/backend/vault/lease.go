package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
	if lease.ID == "" {
		return errors.New("vault: KeepAlive of a lease without an ID")
	}
	// A lease resumed from another process has no session here: it is kept
	// until Vault stops renewing it.
	var ended <-chan struct{}
	if s := b.leaseSession(lease.ID); s != nil {
		ended = s.ended
	}
	expiry := lease.Expiry
	if expiry.IsZero() {
		expiry = time.Now().Add(lease.TTL)
	}
	ttl := lease.TTL
	if ttl <= 0 {
		ttl = time.Until(expiry)
	}
	k := b.renewals.keep(lease.ID, ttl, lease.Renewable, expiry)
	defer b.renewals.stop(k)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-b.alive.Done():
			return errors.New("vault: backend closed")
		case <-ended:
			b.log.Info("the token that issued the lease was replaced; the lease ends with it", "lease", lease.ID)
			return nil
		case r := <-k.renewed:
			l := backend.Lease{ID: lease.ID, TTL: r.ttl, Renewable: r.renewable, Expiry: r.expiry}
			expiry = l.Expiry
			b.log.Debug("lease renewed", "lease", lease.ID, "ttl", r.ttl)
			renewed(l)
		case end := <-k.done:
			switch {
			case end.gone && time.Until(expiry) < time.Second:
				// A renewal racing the lease's own end (its max TTL) is
				// refused like a revoked lease; only an early refusal
				// means revoked.
				b.log.Info("the lease reached its end", "lease", lease.ID)
				return nil
			case end.gone:
				return fmt.Errorf("lease %s: vault no longer knows it (revoked or expired): %w", lease.ID, backend.ErrNotFound)
			case end.err != nil:
				return fmt.Errorf("lease %s: renewal failed: %w", lease.ID, end.err)
			}
			return nil
		}
	}
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
