package backend_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// plain is a backend with Fetch only.
type plain struct{ closed atomic.Bool }

func (p *plain) Fetch(context.Context, string) (backend.Secret, error) {
	return backend.Secret{Data: []byte("v"), Version: "1"}, nil
}

func (p *plain) Close() error { p.closed.Store(true); return nil }

// watching is a backend that can watch.
type watching struct {
	plain
	watched chan struct{}
}

func (w *watching) Watch(ctx context.Context, changed func()) error {
	close(w.watched)
	<-ctx.Done()
	return ctx.Err()
}

func TestLazyOpensAtFirstUseAndRetriesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var opens []time.Duration
		start := time.Now()
		up := start.Add(10 * time.Second) // the backend answers from then on
		l := backend.NewLazy(func(context.Context) (backend.Backend, error) {
			opens = append(opens, time.Since(start))
			if time.Now().Before(up) {
				return nil, fmt.Errorf("vault login: dial tcp: connection refused: %w", backend.ErrDenied)
			}
			return &plain{}, nil
		}, nil)
		if len(opens) != 0 {
			t.Fatal("opened before first use")
		}
		// A caller retrying every 100ms, as many secrets' loops together
		// would: opens are spaced by the backoff, not by the callers.
		var err error
		for time.Now().Before(up.Add(time.Minute)) {
			if _, err = l.Fetch(t.Context(), "x"); err == nil {
				break
			}
			if !errors.Is(err, backend.ErrDenied) {
				t.Fatalf("error lost its sentinel: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("never opened: %v", err)
		}
		if n := len(opens); n < 3 || n > 6 {
			t.Errorf("%d opens at %v in %s of outage, want a few spaced by backoff", n, opens, up.Sub(start))
		}
		for i := 1; i < len(opens); i++ {
			if gap := opens[i] - opens[i-1]; gap < 500*time.Millisecond {
				t.Errorf("opens %d and %d only %s apart", i, i+1, gap)
			}
		}
		// Failures at 0, ≥0.5, ≥1.5, ≥3.5 and ≥7.5 s leave at most one
		// delay of [8 s, 16 s] (jittered) between the backend coming up at
		// 10 s and the open that finds it, plus one caller's 100ms sleep.
		if late := opens[len(opens)-1] - up.Sub(start); late > 16*time.Second+100*time.Millisecond {
			t.Errorf("opened %s after the backend came up, want within one backoff step (≤ 16 s)", late)
		}
		before := len(opens)
		if _, err := l.Fetch(t.Context(), "x"); err != nil || len(opens) != before {
			t.Errorf("once open: %v, %d more opens", err, len(opens)-before)
		}
	})
}

func TestLazyOneOpenAnswersEveryWaitingCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var opens atomic.Int32
		l := backend.NewLazy(func(context.Context) (backend.Backend, error) {
			opens.Add(1)
			<-release
			return &plain{}, nil
		}, nil)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := l.Fetch(t.Context(), "x"); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		if n := opens.Load(); n != 1 {
			t.Errorf("%d opens for 8 concurrent calls, want 1", n)
		}
	})
}

func TestLazyOptionalInterfaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &plain{}
		l := backend.NewLazy(func(context.Context) (backend.Backend, error) { return p, nil }, nil)
		if _, err := l.Version(t.Context(), "x"); !errors.Is(err, backend.ErrNotVersioned) {
			t.Errorf("Version of a backend without versions: %v, want ErrNotVersioned", err)
		}
		if err := l.Watch(t.Context(), func() {}); err != nil {
			t.Errorf("Watch of a backend that cannot watch: %v, want nil", err)
		}
		if err := l.Revoke(t.Context(), "lease"); err == nil {
			t.Error("Revoke through a backend without leases succeeded")
		}
		if err := l.Close(); err != nil || !p.closed.Load() {
			t.Errorf("Close: %v, closed=%v", err, p.closed.Load())
		}
		if _, err := l.Fetch(t.Context(), "x"); !errors.Is(err, backend.ErrClosed) {
			t.Errorf("Fetch after Close: %v", err)
		}

		// Watch waits for the open, then watches.
		w := &watching{watched: make(chan struct{})}
		lw := backend.NewLazy(func(context.Context) (backend.Backend, error) { return w, nil }, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- lw.Watch(ctx, func() {}) }()
		synctest.Wait()
		select {
		case <-w.watched:
			t.Fatal("watching before the backend was opened")
		default:
		}
		if _, err := lw.Fetch(t.Context(), "x"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case <-w.watched:
		default:
			t.Fatal("not watching once opened")
		}
		cancel()
		<-done
	})
}

func TestLazyClosedWhileOpening(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		p := &plain{}
		l := backend.NewLazy(func(context.Context) (backend.Backend, error) {
			<-release
			return p, nil
		}, nil)
		done := make(chan error)
		go func() {
			_, err := l.Fetch(t.Context(), "x")
			done <- err
		}()
		synctest.Wait()
		_ = l.Close()
		close(release)
		if err := <-done; !errors.Is(err, backend.ErrClosed) {
			t.Errorf("Fetch that opened after Close: %v", err)
		}
		if !p.closed.Load() {
			t.Error("a backend opened after Close was left open")
		}
	})
}

// keeper is a LeaseKeeper; holder a LeaseHolder.
type keeper struct{ plain }

func (k *keeper) KeepAlive(ctx context.Context, lease backend.Lease, renewed func(backend.Lease)) error {
	renewed(lease)
	return nil
}

func (k *keeper) Revoke(context.Context, string) error { return nil }

type holder struct {
	keeper
	held atomic.Int64
}

func (h *holder) HoldLease(ctx context.Context, lease backend.Lease, renewed func(backend.Lease), ended func(error)) {
	h.held.Add(1)
	renewed(lease)
	ended(nil)
}

// Lazy holds a lease through the opened backend's HoldLease, and falls
// back to its KeepAlive, in a goroutine, for a plain LeaseKeeper.
func TestLazyHoldLease(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    backend.Backend
	}{{"holder", &holder{}}, {"keeper", &keeper{}}} {
		t.Run(tc.name, func(t *testing.T) {
			l := backend.NewLazy(func(context.Context) (backend.Backend, error) { return tc.b, nil }, nil)
			var renewed atomic.Int64
			done := make(chan error, 1)
			l.HoldLease(context.Background(), backend.Lease{ID: "l"}, func(backend.Lease) { renewed.Add(1) }, func(err error) { done <- err })
			if err := <-done; err != nil || renewed.Load() != 1 {
				t.Fatalf("ended %v after %d renewals", err, renewed.Load())
			}
			if h, ok := tc.b.(*holder); ok && h.held.Load() != 1 {
				t.Errorf("HoldLease of the backend called %d times", h.held.Load())
			}
		})
	}
	l := backend.NewLazy(func(context.Context) (backend.Backend, error) { return &plain{}, nil }, nil)
	done := make(chan error, 1)
	l.HoldLease(context.Background(), backend.Lease{ID: "l"}, func(backend.Lease) {}, func(err error) { done <- err })
	if err := <-done; err == nil {
		t.Error("a backend without leases held a lease")
	}
}
