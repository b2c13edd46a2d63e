// Package backend defines what every secret backend implements: one Fetch,
// sentinel errors that tell "gone or denied" (fail closed) apart from
// transient failures (keep the last good value), and optional interfaces
// for cheap version checks, change notification and leases.
//
// A backend logs through the logger its constructor is given and adds no
// "backend" attribute of its own: the caller's logger already names the
// backend, and slog would repeat the key on every line.
package backend

import (
	"context"
	"errors"
	"time"
)

// Backend fetches one secret by its backend reference.
type Backend interface {
	// Fetch returns the secret's current value. Errors wrap ErrNotFound or
	// ErrDenied when the secret is gone or may not be read; any other error
	// is transient. Errors never contain secret values.
	Fetch(ctx context.Context, ref string) (Secret, error)
}

// Secret is one fetched value.
type Secret struct {
	// Data is the secret's bytes. Never log it.
	Data []byte
	// Version identifies the value; a new version means new Data.
	Version string
	// Lease is set when the value expires unless renewed (Vault dynamic
	// credentials).
	Lease *Lease
	// Validity is set when the value itself expires and cannot be
	// renewed (a certificate from an Issuer).
	Validity *Validity
}

// Lease is a time-limited grant that comes with a secret.
type Lease struct {
	ID        string
	TTL       time.Duration
	Renewable bool
	// Expiry is when the grant ends unless renewed.
	Expiry time.Time
}

// Sentinel errors. Wrap them with the reference that failed:
//
//	fmt.Errorf("secret %q: %w", ref, backend.ErrNotFound)
var (
	// ErrNotFound: the secret, or the version asked for, does not exist
	// (deleted, disabled, destroyed). Fail closed.
	ErrNotFound = errors.New("secret not found")
	// ErrDenied: the agent's identity may not read the secret. Fail closed.
	ErrDenied = errors.New("access denied")
)

// FailsClosed reports whether err means the secret must be removed from the
// volume: it is gone or denied, as opposed to a transient failure.
func FailsClosed(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrDenied)
}

// Versioner is implemented by backends that can tell the current version
// of a secret more cheaply than fetching its value. The agent asks it first
// and fetches only when the version differs from the one it holds.
type Versioner interface {
	// Version returns the current version, or an error wrapping
	// ErrNotVersioned when this secret has none to check without fetching.
	Version(ctx context.Context, ref string) (string, error)
}

// ErrNotVersioned is a Versioner's answer for a secret whose version can
// only be learnt by fetching it (leased credentials): not a failure.
var ErrNotVersioned = errors.New("secret has no version to check without fetching")

// Watcher is implemented by backends that learn of changes without
// polling (the env backend watches its files). Watch calls changed when
// any secret may have changed, until ctx ends.
type Watcher interface {
	Watch(ctx context.Context, changed func()) error
}

// LeaseKeeper is implemented by backends whose secrets can come with
// leases. Renewal reports; the caller acts.
type LeaseKeeper interface {
	// KeepAlive renews lease until it can no longer be renewed, then
	// returns nil: the caller must fetch the secret anew before
	// lease.Expiry. It calls renewed after each renewal. It returns
	// ctx.Err() when ctx ends.
	KeepAlive(ctx context.Context, lease Lease, renewed func(Lease)) error
	// Revoke ends a lease at once.
	Revoke(ctx context.Context, leaseID string) error
}

// LeaseHolder is a LeaseKeeper that keeps leases without a goroutine of
// the caller's for each: HoldLease returns at once, calls renewed after
// each renewal, and calls ended once with what KeepAlive would have
// returned (ctx.Err() when ctx ends). An agent holding 1,000 leases then
// holds 1,000 entries of the backend's renewal queue rather than 1,000
// blocked goroutines.
type LeaseHolder interface {
	LeaseKeeper
	HoldLease(ctx context.Context, lease Lease, renewed func(Lease), ended func(error))
}

// Closer is implemented by backends that hold connections or background
// work (token renewal) to release at shutdown.
type Closer interface {
	Close() error
}
