package notify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fakeNotifier records when it was called, relative to start, and the
// change time it was given.
type fakeNotifier struct {
	mu      sync.Mutex
	start   time.Time
	at      []time.Duration
	changed []time.Duration
	err     error
}

func (f *fakeNotifier) Notify(_ context.Context, changed time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at = append(f.at, time.Since(f.start))
	f.changed = append(f.changed, changed.Sub(f.start))
	return f.err
}

func (f *fakeNotifier) changes() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.changed...)
}

func (f *fakeNotifier) calls() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.at...)
}

// run starts d under a cancellable context and returns the stop function,
// which waits for Start to return nil.
func run(t *testing.T, d *Debounced) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- d.Start(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start returned %v, want nil", err)
		}
	}
}

func TestDebounced(t *testing.T) {
	const window = time.Second
	for _, tc := range []struct {
		name     string
		triggers []time.Duration // when Trigger is called
		want     []time.Duration // when Notify runs
	}{
		{
			name:     "ten triggers within the window: one call after the last",
			triggers: []time.Duration{0, 100, 200, 300, 400, 500, 600, 700, 800, 900},
			want:     []time.Duration{1900},
		},
		{
			name:     "ten triggers at once",
			triggers: []time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			want:     []time.Duration{1000},
		},
		{
			name:     "triggers further apart than the window: one call each",
			triggers: []time.Duration{0, 1500, 3000},
			want:     []time.Duration{1000, 2500, 4000},
		},
		{
			name:     "two bursts",
			triggers: []time.Duration{0, 500, 2000, 2100, 2200},
			want:     []time.Duration{1500, 3200},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeNotifier{start: time.Now()}
				d := NewDebounced(f, window, discard())
				stop := run(t, d)
				for _, at := range tc.triggers {
					time.Sleep(at*time.Millisecond - time.Since(f.start))
					d.Trigger()
				}
				time.Sleep(10 * window)
				stop()
				want := make([]time.Duration, len(tc.want))
				for i, ms := range tc.want {
					want[i] = ms * time.Millisecond
				}
				if diff := cmp.Diff(want, f.calls()); diff != "" {
					t.Errorf("Notify times (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// A notification covers the changes up to the last trigger of its burst:
// that is the time a process's start is compared with.
func TestDebouncedPassesTheLastChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNotifier{start: time.Now()}
		d := NewDebounced(f, time.Second, discard())
		stop := run(t, d)
		for _, at := range []time.Duration{0, 300, 600, 5000} {
			time.Sleep(at*time.Millisecond - time.Since(f.start))
			d.Trigger()
		}
		time.Sleep(10 * time.Second)
		stop()
		want := []time.Duration{600 * time.Millisecond, 5000 * time.Millisecond}
		if diff := cmp.Diff(want, f.changes()); diff != "" {
			t.Errorf("change times given to Notify (-want +got):\n%s", diff)
		}
	})
}

func TestDebouncedTriggerBeforeStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNotifier{start: time.Now()}
		d := NewDebounced(f, time.Second, discard())
		d.Trigger()
		d.Trigger()
		stop := run(t, d)
		time.Sleep(5 * time.Second)
		stop()
		if got := len(f.calls()); got != 1 {
			t.Errorf("%d calls for triggers before Start, want 1", got)
		}
	})
}

func TestDebouncedErrorsDoNotStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		f := &fakeNotifier{start: time.Now(), err: errors.New(`notify: no process named "app" is visible`)}
		d := NewDebounced(f, time.Second, slog.New(slog.NewTextHandler(&buf, nil)))
		stop := run(t, d)
		for range 3 {
			d.Trigger()
			time.Sleep(2 * time.Second)
		}
		stop()
		if got := len(f.calls()); got != 3 {
			t.Errorf("%d calls after 3 failing bursts, want 3", got)
		}
		if got := strings.Count(buf.String(), "msg=\"notify app failed\""); got != 3 {
			t.Errorf("logged %d failures, want 3:\n%s", got, buf.String())
		}
	})
}

func TestDebouncedStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeNotifier{start: time.Now()}
		d := NewDebounced(f, time.Second, discard())
		stop := run(t, d)
		d.Trigger()
		time.Sleep(500 * time.Millisecond)
		// Cancelled with a notification pending: Start returns, nothing
		// runs afterwards, and no goroutine is left (synctest.Test checks).
		stop()
		d.Trigger()
		time.Sleep(5 * time.Second)
		if got := len(f.calls()); got != 0 {
			t.Errorf("%d calls after Start returned, want 0", got)
		}
	})
}
