package agent

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// fakeBackend is an in-memory backend for the loop's logic. The loop is
// also exercised against every real backend in their own packages and e2e.
type fakeBackend struct {
	mu       sync.Mutex
	values   map[string][]byte
	errs     map[string]error // per ref: returned instead of the value
	fetches  map[string]int
	versions map[string]int
	leaseTTL time.Duration // > 0: every fetch comes with a new lease
	leaseSeq int
	revoked  []string
	leaseEnd map[string]chan struct{} // closed: the lease cannot be renewed further
	renewals int
	// revokeHangs makes Revoke wait for its context, as a call to a Vault
	// that does not answer does; revokeCalls counts the calls.
	revokeHangs bool
	// revokeFails fails that many next Revoke calls, as Vault answering
	// 500 does.
	revokeFails int
	revokeCalls int
}

func newFake() *fakeBackend {
	return &fakeBackend{values: map[string][]byte{}, errs: map[string]error{},
		fetches: map[string]int{}, versions: map[string]int{}, leaseEnd: map[string]chan struct{}{}}
}

func (f *fakeBackend) set(ref, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[ref] = []byte(value)
	delete(f.errs, ref)
}

func (f *fakeBackend) remove(ref string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.values, ref)
}

func (f *fakeBackend) fail(ref string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[ref] = err
}

func (f *fakeBackend) heal(ref string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.errs, ref)
}

func (f *fakeBackend) count(ref string) (fetches, versions int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches[ref], f.versions[ref]
}

func (f *fakeBackend) lookup(ref string) ([]byte, string, error) {
	if err := f.errs[ref]; err != nil {
		return nil, "", fmt.Errorf("secret %q: %w", ref, err)
	}
	v, ok := f.values[ref]
	if !ok {
		return nil, "", fmt.Errorf("secret %q: %w", ref, backend.ErrNotFound)
	}
	sum := sha256.Sum256(v)
	return v, fmt.Sprintf("%x", sum[:6]), nil
}

func (f *fakeBackend) Fetch(_ context.Context, ref string) (backend.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches[ref]++
	v, version, err := f.lookup(ref)
	if err != nil {
		return backend.Secret{}, err
	}
	s := backend.Secret{Data: append([]byte(nil), v...), Version: version}
	if f.leaseTTL > 0 {
		f.leaseSeq++
		id := fmt.Sprintf("database/creds/app/lease-%d", f.leaseSeq)
		s.Version = id
		s.Lease = &backend.Lease{ID: id, TTL: f.leaseTTL, Renewable: true, Expiry: time.Now().Add(f.leaseTTL)}
		f.leaseEnd[id] = make(chan struct{})
	}
	return s, nil
}

func (f *fakeBackend) Version(_ context.Context, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.versions[ref]++
	_, version, err := f.lookup(ref)
	return version, err
}

// KeepAlive renews once, then holds the lease until the test ends it with
// endLease (or ctx ends).
func (f *fakeBackend) KeepAlive(ctx context.Context, lease backend.Lease, renewed func(backend.Lease)) error {
	f.mu.Lock()
	end, ok := f.leaseEnd[lease.ID]
	if !ok { // adopted from saved state: unknown here, renewable forever
		end = make(chan struct{})
		f.leaseEnd[lease.ID] = end
	}
	f.renewals++
	f.mu.Unlock()
	lease.Expiry = time.Now().Add(f.leaseTTL)
	renewed(lease)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-end:
		return nil
	}
}

func (f *fakeBackend) endLease(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.leaseEnd[id])
}

func (f *fakeBackend) Revoke(ctx context.Context, id string) error {
	f.mu.Lock()
	f.revokeCalls++
	hangs := f.revokeHangs
	if f.revokeFails > 0 {
		f.revokeFails--
		f.mu.Unlock()
		return errors.New("vault answered 500")
	}
	f.mu.Unlock()
	if hangs {
		<-ctx.Done()
		return ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, id)
	return nil
}

func (f *fakeBackend) revokedLeases() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.revoked...)
}

// versionless hides the Versioner so the loop must fetch.
type versionless struct{ b *fakeBackend }

func (v versionless) Fetch(ctx context.Context, ref string) (backend.Secret, error) {
	return v.b.Fetch(ctx, ref)
}

// countingTrigger counts app notifications.
type countingTrigger struct {
	mu sync.Mutex
	n  int
}

func (c *countingTrigger) Trigger() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func (c *countingTrigger) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
