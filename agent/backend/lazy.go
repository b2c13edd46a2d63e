package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Opener builds a backend. It may fail for reasons that pass: Vault not
// answering yet, a login refused while a role binding propagates, a
// metadata server not up when the pod starts.
type Opener func(ctx context.Context) (Backend, error)

// ErrClosed is returned by a Lazy backend after Close.
var ErrClosed = errors.New("backend closed")

// Retry spacing between failed opens of a Lazy backend: doubling from
// lazyRetryBase up to lazyRetryMax, jittered into [d/2, d].
const (
	lazyRetryBase = time.Second
	lazyRetryMax  = time.Minute
)

// Lazy opens its backend at first use, so that a backend that cannot be
// built yet (its login fails) does not stop the agent: the calls fail
// like any transient error and the agent's loops retry them with backoff,
// in the init container within its timeout, in the sidecar until it
// stops. One open runs at a time and its outcome answers every call
// waiting on it; after a failure, calls within a jittered, growing delay
// get the same error without a new attempt, so that a pod's secrets do not
// each log in on their own while the backend is down.
//
// Lazy implements every optional interface; those the opened backend
// lacks answer as a backend without them would: Version with
// ErrNotVersioned, Watch returns nil, KeepAlive, HoldLease and Revoke
// fail, Issue answers ErrNotFound.
type Lazy struct {
	open Opener
	log  *slog.Logger

	mu       sync.Mutex
	b        Backend
	opened   chan struct{} // closed once b is set
	inflight *attempt
	failures int
	lastErr  error
	retryAt  time.Time
	closed   bool
}

type attempt struct {
	done chan struct{}
	err  error
}

var (
	_ Backend     = (*Lazy)(nil)
	_ Versioner   = (*Lazy)(nil)
	_ Watcher     = (*Lazy)(nil)
	_ LeaseKeeper = (*Lazy)(nil)
	_ LeaseHolder = (*Lazy)(nil)
	_ Closer      = (*Lazy)(nil)
	_ Issuer      = (*Lazy)(nil)
)

// NewLazy returns a backend that opens with open at its first use. A nil
// log discards.
func NewLazy(open Opener, log *slog.Logger) *Lazy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lazy{open: open, log: log, opened: make(chan struct{})}
}

// get returns the opened backend, opening it if no attempt is in flight
// and the last failure's delay is over.
func (l *Lazy) get(ctx context.Context) (Backend, error) {
	l.mu.Lock()
	switch {
	case l.b != nil:
		b := l.b
		l.mu.Unlock()
		return b, nil
	case l.closed:
		l.mu.Unlock()
		return nil, ErrClosed
	case l.inflight != nil:
		at := l.inflight
		l.mu.Unlock()
		select {
		case <-at.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.b != nil {
			return l.b, nil
		}
		return nil, at.err
	case l.lastErr != nil && time.Now().Before(l.retryAt):
		err := l.lastErr
		l.mu.Unlock()
		return nil, err
	}
	at := &attempt{done: make(chan struct{})}
	l.inflight = at
	l.mu.Unlock()

	b, err := l.open(ctx)
	if err != nil {
		err = fmt.Errorf("opening the backend: %w", err)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight = nil
	at.err = err
	close(at.done)
	if err != nil {
		l.failures++
		l.lastErr = err
		wait := retryDelay(l.failures)
		l.retryAt = time.Now().Add(wait)
		l.log.Warn("opening the backend failed; calls fail until it opens", "attempt", l.failures, "in", wait, "err", err)
		return nil, err
	}
	if l.closed {
		closeBackend(b)
		return nil, ErrClosed
	}
	if l.failures > 0 {
		l.log.Info("backend opened", "attempts", l.failures+1)
	}
	l.b, l.lastErr = b, nil
	close(l.opened)
	return b, nil
}

// retryDelay is the wait after failure n (1-based).
func retryDelay(n int) time.Duration {
	d := lazyRetryBase
	for i := 1; i < n && d < lazyRetryMax; i++ {
		d *= 2
	}
	d = min(d, lazyRetryMax)
	return d/2 + rand.N(d/2+1)
}

// Fetch opens the backend if needed and fetches from it.
func (l *Lazy) Fetch(ctx context.Context, ref string) (Secret, error) {
	b, err := l.get(ctx)
	if err != nil {
		return Secret{}, err
	}
	return b.Fetch(ctx, ref)
}

// Version asks the opened backend, or answers ErrNotVersioned when it has
// no cheap version check.
func (l *Lazy) Version(ctx context.Context, ref string) (string, error) {
	b, err := l.get(ctx)
	if err != nil {
		return "", err
	}
	v, ok := b.(Versioner)
	if !ok {
		return "", ErrNotVersioned
	}
	return v.Version(ctx, ref)
}

// Watch waits until the backend is open, then watches it if it can;
// otherwise it returns nil: the agent polls.
func (l *Lazy) Watch(ctx context.Context, changed func()) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-l.opened:
	}
	l.mu.Lock()
	b := l.b
	l.mu.Unlock()
	if w, ok := b.(Watcher); ok {
		return w.Watch(ctx, changed)
	}
	return nil
}

// Issue issues a certificate through the opened backend; a backend that
// issues none answers ErrNotFound (asking again will not help).
func (l *Lazy) Issue(ctx context.Context, ref string, req CertRequest) (Secret, error) {
	b, err := l.get(ctx)
	if err != nil {
		return Secret{}, err
	}
	is, ok := b.(Issuer)
	if !ok {
		return Secret{}, fmt.Errorf("certificate %q: this backend issues no certificates: %w", ref, ErrNotFound)
	}
	return is.Issue(ctx, ref, req)
}

// KeepAlive keeps a lease of the opened backend.
func (l *Lazy) KeepAlive(ctx context.Context, lease Lease, renewed func(Lease)) error {
	lk, err := l.leaseKeeper(ctx)
	if err != nil {
		return err
	}
	return lk.KeepAlive(ctx, lease, renewed)
}

// HoldLease holds a lease of the opened backend: without a goroutine if
// the backend is a LeaseHolder, else with one that runs its KeepAlive.
func (l *Lazy) HoldLease(ctx context.Context, lease Lease, renewed func(Lease), ended func(error)) {
	lk, err := l.leaseKeeper(ctx)
	if err != nil {
		ended(err)
		return
	}
	if lh, ok := lk.(LeaseHolder); ok {
		lh.HoldLease(ctx, lease, renewed, ended)
		return
	}
	go func() { ended(lk.KeepAlive(ctx, lease, renewed)) }()
}

// Revoke revokes a lease through the opened backend.
func (l *Lazy) Revoke(ctx context.Context, leaseID string) error {
	lk, err := l.leaseKeeper(ctx)
	if err != nil {
		return err
	}
	return lk.Revoke(ctx, leaseID)
}

func (l *Lazy) leaseKeeper(ctx context.Context) (LeaseKeeper, error) {
	b, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	lk, ok := b.(LeaseKeeper)
	if !ok {
		return nil, errors.New("backend has no leases")
	}
	return lk, nil
}

// Close closes the opened backend; an open still in flight is closed when
// it ends. Later calls fail with ErrClosed.
func (l *Lazy) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.b != nil {
		closeBackend(l.b)
		l.b = nil
	}
	return nil
}

func closeBackend(b Backend) {
	if c, ok := b.(Closer); ok {
		_ = c.Close()
	}
}
