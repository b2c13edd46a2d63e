package vault

import (
	"container/heap"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
)

// renewer keeps every lease KeepAlive is given alive from one goroutine and
// a few workers. api.LifetimeWatcher takes, per lease, a goroutine whose
// stack grows for each renewal's HTTP call, two clones of the client and a
// random source of its own: at 1,000 leases that was 3 goroutines and ~45
// KiB per lease, ~75 MiB for the agent and ~4 % of a core
// (docs/performance.md). Here a lease is an entry in a queue ordered by
// its next renewal.
//
// The schedule is api.LifetimeWatcher's, so that Vault sees the same calls
// (scheduleLocked and nextRenewal): renew at 2/3 of the remaining lease
// plus a third of a grace of 10–20 % of the lease; stop when the lease no
// longer extends past the grace (its max TTL is near) and let the caller
// fetch anew; after a failed call retry with exponential backoff from 10 s
// while the lease lasts. Two differences: it does not renew the moment a
// lease is handed to it (the lease was just issued, or its expiry is
// known, and that call bought nothing), and a renewal waits for the next
// tick of a one-second grid (renewTick), so that the renewals of many
// leases share a wake-up.
type renewer struct {
	renew func(ctx context.Context, leaseID string, increment int) (*api.Secret, error)
	// jitter returns a number in [0, 1); tests pass their own.
	jitter func() float64

	mu    sync.Mutex
	queue leaseQueue
	wake  chan struct{} // the queue's head may have changed
	work  chan *keptLease
}

// errNoRenewal: Vault answered a renewal without a lease.
var errNoRenewal = errors.New("vault answered the renewal without a lease")

// renewWorkers bounds the renewals in flight. 1,000 leases of 30 s need
// ~45 renewals a second of a few milliseconds each; four keep up with a
// Vault 80 ms away, and stay within the client's pool of idle
// connections (GOMAXPROCS+1), so that no renewal waits for a new
// connection (and its TLS handshake).
const renewWorkers = 4

// renewTick is the grid renewals are aligned to: a renewal due between two
// ticks waits for the next, so that the agent wakes once a tick for the
// renewals of many leases rather than once for each. It is capped at a
// quarter of the lease's grace, so that short leases keep their margin.
const renewTick = time.Second

// Retry spacing of failed renewals, as api.LifetimeWatcher's.
const (
	renewRetryFirst = 10 * time.Second
	renewRetryMax   = 5 * time.Minute
)

// keptLease is one lease being kept. Its fields are guarded by
// renewer.mu; events reach its holder through onRenewal and onEnd, called
// from the renewer's goroutines without its lock held.
type keptLease struct {
	id        string
	increment int  // seconds asked for at each renewal: the lease's TTL
	fixed     bool // cannot be renewed: kept until its grace
	expiry    time.Time
	prior     time.Duration // the remaining duration at the last schedule
	grace     time.Duration
	next      time.Time
	// failing is when renewals started to fail (zero: they do not), and
	// retry the wait before the next attempt.
	failing time.Time
	retry   time.Duration
	lastErr error

	index   int // in the queue; -1 when not queued
	stopped bool

	onRenewal func(renewal)
	onEnd     func(renewEnd) // at most once
}

// renewal is what one renewal said of the lease.
type renewal struct {
	ttl       time.Duration
	renewable bool
	expiry    time.Time
}

// renewEnd says why a lease is no longer kept: err nil means it cannot be
// extended further (or is not renewable) and its grace has begun; gone
// means Vault refused a renewal as if the lease did not exist.
type renewEnd struct {
	err  error
	gone bool
}

func newRenewer(renew func(ctx context.Context, leaseID string, increment int) (*api.Secret, error)) *renewer {
	return &renewer{
		renew:  renew,
		jitter: rand.Float64,
		wake:   make(chan struct{}, 1),
		work:   make(chan *keptLease),
	}
}

// run dispatches due renewals to the workers until ctx ends.
func (r *renewer) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range renewWorkers {
		wg.Go(func() {
			for k := range r.work {
				r.renewOne(ctx, k)
			}
		})
	}
	defer wg.Wait()
	defer close(r.work)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		r.mu.Lock()
		var due *keptLease
		wait := time.Hour
		if len(r.queue) > 0 {
			head := r.queue[0]
			if d := time.Until(head.next); d <= 0 {
				due = heap.Pop(&r.queue).(*keptLease)
			} else {
				wait = d
			}
		}
		r.mu.Unlock()
		if due != nil {
			select {
			case r.work <- due:
			case <-ctx.Done():
				return
			}
			continue
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-t.C:
		}
	}
}

// keep starts keeping a lease that ends at expiry; ttl is what each
// renewal asks for. onRenewal is called after each renewal, onEnd once
// when the lease is no longer kept, unless stop comes first. A lease
// already within its grace is not kept: keep returns it with its end,
// which it does not report.
func (r *renewer) keep(id string, ttl time.Duration, renewable bool, expiry time.Time,
	onRenewal func(renewal), onEnd func(renewEnd)) (*keptLease, *renewEnd) {
	k := &keptLease{
		id:        id,
		increment: int(ttl / time.Second),
		fixed:     !renewable,
		expiry:    expiry,
		index:     -1,
		onRenewal: onRenewal,
		onEnd:     onEnd,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	remaining := time.Until(expiry)
	k.grace = r.graceFor(remaining, ttl)
	k.prior = remaining
	return k, r.scheduleLocked(k, remaining)
}

// stop forgets k: a renewal in flight is discarded.
func (r *renewer) stop(k *keptLease) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k.stopped = true
	if k.index >= 0 {
		heap.Remove(&r.queue, k.index)
	}
}

// renewOne renews k once and schedules what follows.
func (r *renewer) renewOne(ctx context.Context, k *keptLease) {
	r.mu.Lock()
	if k.stopped {
		r.mu.Unlock()
		return
	}
	fixed := k.fixed
	r.mu.Unlock()
	var (
		sec *api.Secret
		err error
	)
	if !fixed {
		cctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
		sec, err = r.renew(cctx, k.id, k.increment)
		cancel()
		if ctx.Err() != nil {
			return
		}
	}
	rn, end := r.afterRenewal(k, fixed, sec, err)
	if rn != nil {
		k.onRenewal(*rn)
	}
	if end != nil {
		k.onEnd(*end)
	}
}

// afterRenewal records a renewal's outcome and schedules what follows; it
// returns what to report: the renewal, and the lease's end if it ended.
func (r *renewer) afterRenewal(k *keptLease, fixed bool, sec *api.Secret, err error) (*renewal, *renewEnd) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k.stopped {
		return nil, nil
	}
	now := time.Now()
	var rn *renewal
	switch code := statusOf(err); {
	case fixed:
	case err == nil && sec != nil:
		ttl := time.Duration(sec.LeaseDuration) * time.Second
		k.expiry = now.Add(ttl)
		k.fixed = !sec.Renewable
		k.failing, k.retry, k.lastErr = time.Time{}, 0, nil
		rn = &renewal{ttl: ttl, renewable: sec.Renewable, expiry: k.expiry}
	case code == http.StatusBadRequest:
		// Vault does not know the lease (revoked or expired).
		return nil, r.endLocked(k, renewEnd{gone: true})
	case code == http.StatusForbidden:
		// The token may not renew it: keep it as it is until its grace,
		// as the watcher does.
		k.fixed = true
	default:
		if err == nil {
			err = errNoRenewal
		}
		if k.failing.IsZero() {
			k.failing, k.retry = now, renewRetryFirst
		} else {
			k.retry = min(2*k.retry, renewRetryMax)
		}
		k.lastErr = err
		// Jittered into [retry/2, 3/2 retry] as the watcher's backoff is,
		// and never past the lease's end.
		wait := time.Duration(float64(k.retry) * (0.5 + r.jitter()))
		if now.Add(wait).After(k.expiry) {
			return nil, r.endLocked(k, renewEnd{err: redact(err)})
		}
		k.next = now.Add(wait)
		heap.Push(&r.queue, k)
		r.signal()
		return nil, nil
	}
	return rn, r.scheduleLocked(k, time.Until(k.expiry))
}

// scheduleLocked queues k's next renewal for a lease with remaining left,
// or ends it when that renewal would fall within the grace and returns
// the end.
func (r *renewer) scheduleLocked(k *keptLease, remaining time.Duration) *renewEnd {
	sleep := r.nextRenewal(k, remaining)
	k.prior = remaining
	if remaining <= k.grace || remaining-sleep <= k.grace {
		return r.endLocked(k, renewEnd{})
	}
	k.next = alignUp(time.Now().Add(sleep), min(renewTick, k.grace/4))
	heap.Push(&r.queue, k)
	r.signal()
	return nil
}

// alignUp rounds t up to a multiple of tick (unchanged when tick ≤ 0).
func alignUp(t time.Time, tick time.Duration) time.Time {
	if tick <= 0 {
		return t
	}
	if a := t.Truncate(tick); !a.Equal(t) {
		return a.Add(tick)
	}
	return t
}

// nextRenewal is api.LifetimeWatcher's calculateSleepDuration: the grace
// is drawn again while the lease still extends, and the renewal comes at
// 2/3 of the remaining lease plus a third of the grace.
func (r *renewer) nextRenewal(k *keptLease, remaining time.Duration) time.Duration {
	if remaining > k.prior {
		k.grace = r.graceFor(remaining, time.Duration(k.increment)*time.Second)
	}
	return time.Duration(float64(remaining)*2/3 + float64(k.grace)/3)
}

// graceFor is api.LifetimeWatcher's calculateGrace: 10–20 % of the lease
// (or of the increment, when shorter).
func (r *renewer) graceFor(lease, increment time.Duration) time.Duration {
	d := lease
	if d > increment && increment > 0 {
		d = increment
	}
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) * (0.1 + 0.1*r.jitter()))
}

// endLocked stops keeping k and returns its end to report.
func (r *renewer) endLocked(k *keptLease, e renewEnd) *renewEnd {
	k.stopped = true
	return &e
}

func (r *renewer) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// leaseQueue is a min-heap of kept leases by next renewal.
type leaseQueue []*keptLease

func (q leaseQueue) Len() int           { return len(q) }
func (q leaseQueue) Less(i, j int) bool { return q[i].next.Before(q[j].next) }
func (q leaseQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *leaseQueue) Push(x any) {
	k := x.(*keptLease)
	k.index = len(*q)
	*q = append(*q, k)
}

func (q *leaseQueue) Pop() any {
	old := *q
	k := old[len(old)-1]
	old[len(old)-1] = nil
	k.index = -1
	*q = old[:len(old)-1]
	return k
}
