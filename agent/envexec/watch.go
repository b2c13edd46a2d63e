package envexec

import (
	"context"

	"github.com/fsnotify/fsnotify"

	"github.com/tradepulse/secret-injector/agent/internal/fswatch"
)

// watch sends on changed (without blocking: one pending is enough) when
// the files under o.Dir may have changed, until ctx ends. The agent swaps
// the volume's ..data link to publish a new payload, an event in the
// directory itself; a burst of events is merged into one, debounce after
// the last. The files are also looked at every poll interval, for what
// inotify misses or where it is unavailable: the caller compares values,
// so a look that finds nothing new costs a read.
func watch(ctx context.Context, o *Options, changed chan<- struct{}) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w, err := fsnotify.NewWatcher(); err != nil {
		o.Log.Warn("cannot watch the secrets directory, polling it", "dir", o.Dir, "interval", o.Poll, "err", err)
	} else if err := w.Add(o.Dir); err != nil {
		w.Close()
		o.Log.Warn("cannot watch the secrets directory, polling it", "dir", o.Dir, "interval", o.Poll, "err", err)
	} else {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}
	tell := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	// A poll tells at once: the caller's comparison of values is the check.
	fswatch.Loop{
		Events: events, Errors: errs, Debounce: o.Debounce, Poll: o.Poll,
		OnPoll:  func() bool { tell(); return false },
		OnError: func(err error) { o.Log.Warn("watching the secrets directory", "err", err) },
		Changed: tell,
	}.Run(ctx)
}
