package env

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watched starts Watch on a backend for path, with polling effectively off
// so that only fsnotify can fire, and returns the channel its calls arrive
// on. The watch is established when it returns; it stops with the test.
func watched(t *testing.T, path string) chan struct{} {
	t.Helper()
	b, err := New([]string{path}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.poll = time.Hour
	ready := make(chan struct{})
	b.watching = func() { close(ready) }
	calls := make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Watch(ctx, func() { calls <- struct{}{} }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v", err)
		}
	})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not start")
	}
	return calls
}

func waitCall(t *testing.T, calls <-chan struct{}, within time.Duration, what string) {
	t.Helper()
	select {
	case <-calls:
	case <-time.After(within):
		t.Fatalf("no change reported within %s of %s", within, what)
	}
}

// quiet asserts that no call arrives for a while (a negative check, so it
// can only wait).
func quiet(t *testing.T, calls <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-calls:
		t.Fatalf("a change was reported after %s", what)
	case <-time.After(10 * defaultDebounce):
	}
}

func TestWatchEdits(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, path string)
	}{
		{"rename over the file", func(t *testing.T, path string) {
			tmp := path + ".swp"
			if err := os.WriteFile(tmp, []byte("A=2\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}},
		{"write in place", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("A=22\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"remove", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ".env")
			if err := os.WriteFile(path, []byte("A=1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			calls := watched(t, path)
			tc.edit(t, path)
			waitCall(t, calls, time.Second, tc.name)
			// The watch survives the edit: a second edit is seen too.
			if err := os.WriteFile(path, []byte("A=3\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			waitCall(t, calls, time.Second, "a second edit")
		})
	}
}

func TestWatchCreatesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	calls := watched(t, path)
	if err := os.WriteFile(path, []byte("A=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitCall(t, calls, time.Second, "creating the file")
}

func TestWatchBurstFiresOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("A=0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	calls := watched(t, path)
	for i := range 20 {
		if err := os.WriteFile(path, []byte(strings.Repeat("A=1\n", i+1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	waitCall(t, calls, 5*time.Second, "a burst of writes")
	// Real time on a shared machine may split the burst once, never more.
	n := 1
	for {
		select {
		case <-calls:
			n++
			continue
		case <-time.After(10 * defaultDebounce):
		}
		break
	}
	if n > 2 {
		t.Errorf("a burst of 20 writes reported %d changes, want 1 (at most 2)", n)
	}
}

func TestWatchIgnoresOtherFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	if err := os.WriteFile(path, []byte("A=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	calls := watched(t, path)
	if err := os.WriteFile(filepath.Join(dir, "other.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	quiet(t, calls, "writing another file in the directory")
}

func TestWatchStopsGoroutines(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	b, _ := New([]string{path}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Watch(ctx, func() {}) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "fsnotify") && !strings.Contains(stacks, "(*Backend).Watch") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Watch returned:\n%s", stacks)
		}
		runtime.Gosched()
	}
}

// Under synctest, fsnotify cannot run (its reader blocks in a system call),
// so these feed the loop its events directly and check the timing exactly.

func newSynctestBackend(t *testing.T) (*Backend, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("A=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := New([]string{path}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b, path
}

func TestDebounceExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, path := newSynctestBackend(t)
		b.poll = time.Hour
		events := make(chan fsnotify.Event)
		var calls atomic.Int32
		var at time.Time
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			done <- b.watchLoop(ctx, events, nil, nil, func() { calls.Add(1); at = time.Now() })
		}()

		// A burst: ten events 10 ms apart, plus events to ignore.
		start := time.Now()
		for range 10 {
			events <- fsnotify.Event{Name: path, Op: fsnotify.Write}
			events <- fsnotify.Event{Name: filepath.Join(filepath.Dir(path), "other"), Op: fsnotify.Write}
			events <- fsnotify.Event{Name: path, Op: fsnotify.Chmod}
			time.Sleep(10 * time.Millisecond)
		}
		last := start.Add(90 * time.Millisecond)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := calls.Load(); got != 1 {
			t.Fatalf("a burst of 10 events gave %d calls, want 1", got)
		}
		if want := last.Add(defaultDebounce); !at.Equal(want) {
			t.Errorf("called at +%s, want +%s (debounce after the last event)", at.Sub(start), want.Sub(start))
		}

		// Events further apart than the window: one call each.
		for range 3 {
			events <- fsnotify.Event{Name: path, Op: fsnotify.Rename}
			time.Sleep(2 * defaultDebounce)
		}
		synctest.Wait()
		if got := calls.Load(); got != 4 {
			t.Errorf("3 separate events gave %d more calls, want 3", got-1)
		}

		// Kubernetes' ..data swap counts as a change of the files.
		events <- fsnotify.Event{Name: filepath.Join(filepath.Dir(path), "..data"), Op: fsnotify.Create}
		time.Sleep(2 * defaultDebounce)
		if got := calls.Load(); got != 5 {
			t.Errorf("a ..data swap gave %d calls, want 1", got-4)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watchLoop returned %v", err)
		}
	})
}

func TestPollFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, path := newSynctestBackend(t)
		b.noFSNotify = true
		var calls atomic.Int32
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- b.Watch(ctx, func() { calls.Add(1) }) }()

		time.Sleep(3 * defaultPoll)
		if got := calls.Load(); got != 0 {
			t.Fatalf("%d calls without a change", got)
		}
		for i, edit := range []func() error{
			func() error { return os.WriteFile(path, []byte("A=22\n"), 0o600) },
			func() error { return os.Remove(path) },
			func() error { return os.WriteFile(path, []byte("A=1\n"), 0o600) },
		} {
			if err := edit(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(defaultPoll + defaultDebounce)
			synctest.Wait()
			if got := calls.Load(); got != int32(i+1) {
				t.Fatalf("after edit %d: %d calls, want %d", i+1, got, i+1)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v", err)
		}
	})
}
