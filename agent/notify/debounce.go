package notify

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Debounced merges bursts of triggers into one notification: a refresh
// that rewrites several files, or a rotation that lands in several
// secrets at once, tells the app once, after window of quiet.
type Debounced struct {
	n       Notifier
	window  time.Duration
	log     *slog.Logger
	trigger chan struct{}

	mu sync.Mutex
	// last is when the latest trigger came: the notification covers the
	// changes written up to then.
	last time.Time
}

// NewDebounced wraps n. Nothing is sent until Start runs.
func NewDebounced(n Notifier, window time.Duration, log *slog.Logger) *Debounced {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Debounced{n: n, window: max(window, 0), log: log, trigger: make(chan struct{}, 1)}
}

// Trigger asks for a notification of a change just written, and returns
// at once. Triggers before Start are kept until it runs.
func (d *Debounced) Trigger() {
	d.mu.Lock()
	d.last = time.Now()
	d.mu.Unlock()
	select {
	case d.trigger <- struct{}{}:
	default: // one is pending already
	}
}

// Start notifies once per burst of triggers, window after the last one,
// until ctx ends; then it returns nil. A failed notification is logged and
// the loop goes on: the next change tries again.
func (d *Debounced) Start(ctx context.Context) error {
	// One timer, reset by every trigger (the trailing edge of the burst).
	timer := time.NewTimer(d.window)
	timer.Stop()
	defer timer.Stop()
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.trigger:
			timer.Reset(d.window)
			fire = timer.C
		case <-fire:
			fire = nil
			d.mu.Lock()
			changed := d.last
			d.mu.Unlock()
			if err := d.n.Notify(ctx, changed); err != nil && ctx.Err() == nil {
				d.log.Warn("notify app failed", "err", err)
			}
		}
	}
}
