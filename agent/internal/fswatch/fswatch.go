// Package fswatch is the loop the agent's file watchers share: fsnotify
// events with a periodic poll behind them (fsnotify misses symlink swaps on
// some volumes, and may be unavailable: then the poll works alone), and a
// burst of events merged into one change, a quiet window after the last.
// What a watcher watches and what counts as a change stay with the caller.
package fswatch

import (
	"context"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Loop says what one watcher does with each thing that can happen. Its
// funcs run on the loop's goroutine, one at a time, so they may share state
// without locks.
type Loop struct {
	// Events and Errors are an fsnotify.Watcher's channels; both nil to
	// poll alone. A closed channel is dropped, the rest goes on.
	Events <-chan fsnotify.Event
	Errors <-chan error
	// Debounce is the quiet time after the last change before Changed runs.
	Debounce time.Duration
	// Poll is the time between calls of OnPoll.
	Poll time.Duration
	// Relevant says whether an event may be a change of what the caller
	// watches; nil counts every event.
	Relevant func(fsnotify.Event) bool
	// OnPoll runs every Poll; true means it saw a change, which is merged
	// with the events' like one of them. Nil does nothing.
	OnPoll func() bool
	// OnError, when set, gets fsnotify's errors (they name paths and
	// overflows, never contents).
	OnError func(error)
	// Changed runs once per burst of changes, Debounce after the last.
	Changed func()
}

// Run runs the loop until ctx ends.
func (l Loop) Run(ctx context.Context) {
	events, errs := l.Events, l.Errors
	poll := time.NewTicker(l.Poll)
	defer poll.Stop()
	// One timer, reset by every change: Changed runs once the burst is over.
	timer := time.NewTimer(l.Debounce)
	timer.Stop()
	defer timer.Stop()
	var fire <-chan time.Time
	touch := func() {
		timer.Reset(l.Debounce)
		fire = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if l.Relevant == nil || l.Relevant(ev) {
				touch()
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if l.OnError != nil {
				l.OnError(err)
			}
		case <-poll.C:
			if l.OnPoll != nil && l.OnPoll() {
				touch()
			}
		case <-fire:
			fire = nil
			l.Changed()
		}
	}
}
