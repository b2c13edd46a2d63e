package env

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tradepulse/secret-injector/agent/internal/fswatch"
)

const (
	// defaultDebounce merges the burst of events one save produces
	// (truncate, write, chmod; or write temp, rename) into one change.
	defaultDebounce = 100 * time.Millisecond
	// defaultPoll is the fallback for what fsnotify misses (symlink swaps
	// of mounted volumes, network file systems, inotify limits).
	defaultPoll = 3 * time.Second
)

// kubeDataLink is the symlink Kubernetes swaps when it updates a mounted
// ConfigMap or Secret; the files themselves see no event.
const kubeDataLink = "..data"

// Watch calls changed, never concurrently, when any of the files may have
// changed, until ctx ends; then it returns nil. It watches the files'
// directories, since editors save by renaming a new file over the old one,
// merges bursts of events, and polls the files' size and time as a
// fallback. Without inotify it polls alone.
func (b *Backend) Watch(ctx context.Context, changed func()) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	var w *fsnotify.Watcher
	if !b.noFSNotify {
		var err error
		w, err = fsnotify.NewWatcher()
		if err != nil {
			b.log.Warn("cannot watch env files, polling instead", "interval", b.poll, "err", err)
		} else {
			defer w.Close()
			b.addDirs(w)
			events, errs = w.Events, w.Errors
		}
	}
	return b.watchLoop(ctx, events, errs, w, changed)
}

// watchLoop merges file events and poll results into calls of changed. w
// may be nil (polling only); it is used to re-add directories that were
// missing when the watch started.
func (b *Backend) watchLoop(ctx context.Context, events <-chan fsnotify.Event, errs <-chan error, w *fsnotify.Watcher, changed func()) error {
	ours := map[string]bool{}
	for _, f := range b.files {
		ours[f.path] = true
		ours[filepath.Join(filepath.Dir(f.path), kubeDataLink)] = true
	}
	last := b.baseline
	if b.watching != nil {
		b.watching()
	}
	fswatch.Loop{
		Events: events, Errors: errs, Debounce: b.debounce, Poll: b.poll,
		Relevant: func(ev fsnotify.Event) bool {
			return ours[filepath.Clean(ev.Name)] && ev.Op != fsnotify.Chmod
		},
		OnPoll: func() bool {
			if w != nil {
				b.addDirs(w)
			}
			return !sameSnapshot(last, b.snapshot())
		},
		OnError: func(err error) { b.log.Warn("env file watch error; polling continues", "err", err) },
		Changed: func() {
			last = b.snapshot()
			b.log.Debug("env files changed")
			changed()
		},
	}.Run(ctx)
	return nil
}

// addDirs watches every file's directory that is not watched yet. A
// directory that does not exist yet is left to the poll.
func (b *Backend) addDirs(w *fsnotify.Watcher) {
	watched := map[string]bool{}
	for _, d := range w.WatchList() {
		watched[d] = true
	}
	for _, f := range b.files {
		dir := filepath.Dir(f.path)
		if watched[dir] {
			continue
		}
		if err := w.Add(dir); err != nil {
			b.log.Debug("cannot watch env file directory yet", "dir", dir, "err", err)
			continue
		}
		watched[dir] = true
	}
}

// snapshot records what the poll compares: a file that appears,
// disappears, is replaced or is rewritten differs in identity, size, time
// or mode. A nil entry is a file that cannot be stat'ed.
func (b *Backend) snapshot() []os.FileInfo {
	s := make([]os.FileInfo, len(b.files))
	for i, f := range b.files {
		// Stat follows symlinks, so a swapped ..data link shows up as a
		// different file.
		if fi, err := os.Stat(f.path); err == nil {
			s[i] = fi
		}
	}
	return s
}

func sameSnapshot(a, b []os.FileInfo) bool {
	for i := range a {
		x, y := a[i], b[i]
		switch {
		case x == nil && y == nil:
			continue
		case x == nil || y == nil:
			return false
		case !os.SameFile(x, y) || x.Size() != y.Size() || !x.ModTime().Equal(y.ModTime()) || x.Mode() != y.Mode():
			return false
		}
	}
	return true
}
