package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
)

// Backoff bounds for failing secrets.
const (
	backoffBase = time.Second
	backoffMax  = time.Minute
)

// RunInit fetches every secret once and writes them all in one swap. It
// returns nil only when every required secret is written; it retries with
// backoff until the config's init timeout, then fails closed with an error
// naming each missing secret and why.
func (a *Agent) RunInit(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(a.cfg.InitTimeout))
	defer cancel()
	for attempt := 1; ; attempt++ {
		a.eachSecret(func(st *secretState) {
			if !a.isOK(st) {
				a.refresh(ctx, st, false)
			}
		})
		missing := a.missingRequired()
		if len(missing) == 0 {
			break
		}
		a.log.Warn("required secrets not ready; retrying", "attempt", attempt, "missing", strings.Join(missing, ","))
		if err := sleep(ctx, backoff(attempt, backoffMax)); err != nil {
			return fmt.Errorf("init: gave up after %s (%d attempts); missing required secrets:\n  %s\ncheck the references and that the pod's identity may read them",
				a.cfg.InitTimeout, attempt, strings.Join(a.describeMissing(), "\n  "))
		}
	}
	if _, err := a.sync(); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	a.markReady()
	a.log.Info("all required secrets written", "secrets", len(a.secrets), "dir", a.cfg.MountPath)
	return nil
}

// RunSidecar keeps every secret fresh until ctx ends: it polls on each
// secret's interval with jitter, retries failures with backoff, follows the
// backend's change notifications and keeps leases alive.
func (a *Agent) RunSidecar(ctx context.Context) error {
	a.runCtx = ctx
	a.sidecar = true
	// A native sidecar's first pass runs before the app starts, unless
	// this sidecar ran before in this pod (it restarted; the app runs).
	restarted := a.sidecarRanBefore()
	for id, l := range a.resume() {
		a.retireAt(l.Secret, id, l.Due)
	}
	// Watch before the first pass, so that a change landing between the
	// first fetch and the watch is not lost until the next interval.
	if w, ok := a.backend.(backend.Watcher); ok {
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			if err := w.Watch(ctx, a.wakeAll); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Warn("watching the backend for changes stopped; polling continues", "err", err)
			}
		}()
	}
	// The first pass fetches concurrently and writes once: one swap of
	// the volume, not one per secret. Each new lease is kept from the
	// moment it is fetched (its old one revoked only after the grace).
	for _, st := range a.secrets {
		st.refreshMu.Lock()
	}
	a.eachSecret(func(st *secretState) {
		a.mu.Lock()
		inherited := st.inherited
		st.inherited = false
		a.mu.Unlock()
		old := a.heldLease(st)
		a.refresh(ctx, st, inherited)
		a.leaseMoved(st, old)
	})
	tell := !a.nativeSidecar || restarted
	if !tell {
		a.log.Debug("native sidecar's first pass: the app starts after it and reads the files as they are")
	}
	if _, err := a.write(tell); err == nil && len(a.missingRequired()) == 0 {
		a.markReady()
	}
	for _, st := range a.secrets {
		st.refreshMu.Unlock()
	}

	for _, st := range a.secrets {
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			a.loop(ctx, st)
		}()
	}
	<-ctx.Done()
	a.bg.Wait()
	a.revokeOnShutdown()
	return nil
}

// fetchConcurrency bounds the backend calls of a pass over every secret:
// enough to hide round trips, few enough not to look like a burst.
const fetchConcurrency = 8

// eachSecret runs fn for every secret, fetchConcurrency at a time, and
// returns when all are done.
func (a *Agent) eachSecret(fn func(st *secretState)) {
	sem := make(chan struct{}, fetchConcurrency)
	var wg sync.WaitGroup
	for _, st := range a.secrets {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(st)
		})
	}
	wg.Wait()
}

// loop refreshes one secret on its schedule until ctx ends.
func (a *Agent) loop(ctx context.Context, st *secretState) {
	for {
		t := time.NewTimer(a.nextDelay(st))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-st.kick:
			t.Stop()
		}
		a.mu.Lock()
		kept := st.lease != nil && st.stopLease != nil
		// A lease nobody keeps (inherited, or its replacement failed) must
		// be replaced, not polled.
		force := st.needFetch || (st.lease != nil && !kept)
		st.needFetch = false
		a.mu.Unlock()
		// A live lease is kept by its keeper; polling would issue new
		// credentials every interval.
		if kept && !force {
			continue
		}
		a.refreshAndSync(ctx, st, force)
	}
}

// refreshAndSync refreshes one secret, writes the payload if it changed,
// and moves lease keeping over to a new lease.
func (a *Agent) refreshAndSync(ctx context.Context, st *secretState, force bool) {
	st.refreshMu.Lock()
	defer st.refreshMu.Unlock()
	old := a.heldLease(st)
	changed := a.refresh(ctx, st, force)
	// Before the write: the state file it swaps in must list the old
	// lease as retiring.
	a.leaseMoved(st, old)
	if changed {
		if _, err := a.sync(); err == nil && len(a.missingRequired()) == 0 {
			a.markReady()
		}
	}
}

func (a *Agent) wakeAll() {
	for _, st := range a.secrets {
		kick(st)
	}
}

func kick(st *secretState) {
	select {
	case st.kick <- struct{}{}:
	default:
	}
}

// nextDelay is the refresh interval with ±10% jitter for a healthy secret,
// and exponential backoff with jitter for a failing one.
func (a *Agent) nextDelay(st *secretState) time.Duration {
	if st.spec.Certificate != nil {
		return a.certDelay(st)
	}
	a.mu.Lock()
	ok, failures := st.ok, st.failures
	a.mu.Unlock()
	interval := time.Duration(st.spec.RefreshInterval)
	if ok || failures == 0 {
		return interval - interval/10 + rand.N(interval/5+1)
	}
	return backoff(failures, min(interval, backoffMax))
}

// backoff is the wait before retry n (1-based): exponential from
// backoffBase up to limit, then jittered into [d/2, d] so that many agents
// failing together do not retry together.
func backoff(n int, limit time.Duration) time.Duration {
	d := backoffBase
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (a *Agent) isOK(st *secretState) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return st.ok
}

func (a *Agent) heldLease(st *secretState) *backend.Lease {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st.lease == nil {
		return nil
	}
	l := *st.lease
	return &l
}

func (a *Agent) markReady() {
	a.mu.Lock()
	first := !a.ready
	a.ready = true
	a.mu.Unlock()
	if first && a.sidecar {
		a.leaveSidecarMarker()
	}
}

// SidecarMarkerFile is left in the volume when a sidecar first becomes
// ready, the moment after which the app may run. A sidecar that finds it
// at start was restarted: the app may be running and must be told what
// its first pass changes.
const SidecarMarkerFile = ".agent-sidecar-ready"

func (a *Agent) sidecarRanBefore() bool {
	_, err := os.Lstat(filepath.Join(a.cfg.MountPath, SidecarMarkerFile))
	return err == nil
}

func (a *Agent) leaveSidecarMarker() {
	path := filepath.Join(a.cfg.MountPath, SidecarMarkerFile)
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if errors.Is(err, fs.ErrExist) {
		return
	}
	if err != nil {
		a.log.Warn("cannot leave the sidecar marker; a restart of this sidecar will not tell the app about its first pass",
			"file", SidecarMarkerFile, "err", err)
		return
	}
	_ = fh.Close()
}

// missingRequired names the required secrets that have no files.
func (a *Agent) missingRequired() []string {
	return a.mapMissing(func(st *secretState) string { return st.spec.Name })
}

// describeMissing says, for each missing required secret, what it refers
// to and the last error.
func (a *Agent) describeMissing() []string {
	return a.mapMissing(func(st *secretState) string {
		return fmt.Sprintf("%s (%s): %s", st.spec.Name, st.spec.Ref, st.lastError)
	})
}

// mapMissing returns say(st) for each required secret that has no files,
// in name order (nil when there is none). say runs under a.mu.
func (a *Agent) mapMissing(say func(st *secretState) string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, st := range a.secrets {
		if !st.spec.Optional && st.files == nil {
			out = append(out, say(st))
		}
	}
	return out
}
