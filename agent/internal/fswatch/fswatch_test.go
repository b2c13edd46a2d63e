package fswatch

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
)

func TestLoopMergesBurstsAndPolls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const debounce, poll = 100 * time.Millisecond, time.Second
		events := make(chan fsnotify.Event)
		var calls []time.Time
		var pollSees atomic.Bool
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			Loop{
				Events: events, Debounce: debounce, Poll: poll,
				Relevant: func(ev fsnotify.Event) bool { return ev.Name == "ours" },
				OnPoll:   func() bool { return pollSees.Load() },
				Changed:  func() { calls = append(calls, time.Now()) },
			}.Run(ctx)
		}()

		// A burst of five events 10 ms apart, with others to ignore: one
		// call, debounce after the last of ours.
		for range 5 {
			events <- fsnotify.Event{Name: "ours", Op: fsnotify.Write}
			events <- fsnotify.Event{Name: "other", Op: fsnotify.Write}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(poll - 50*time.Millisecond - 10*time.Millisecond) // just before the first poll
		synctest.Wait()
		if want := start.Add(40*time.Millisecond + debounce); len(calls) != 1 || !calls[0].Equal(want) {
			t.Fatalf("calls at %v, want one at +%s", calls, want.Sub(start))
		}

		// A poll that sees a change is debounced like an event; one that
		// sees none calls nothing. A closed event channel leaves the poll.
		synctest.Wait()
		close(events)
		pollSees.Store(true)
		time.Sleep(poll)
		pollSees.Store(false)
		time.Sleep(3 * poll)
		synctest.Wait()
		if want := start.Add(poll + debounce); len(calls) != 2 || !calls[1].Equal(want) {
			t.Fatalf("calls at %v, want a second at +%s", calls, want.Sub(start))
		}
		cancel()
		<-done
	})
}
