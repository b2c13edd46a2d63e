package agent

import (
	"context"
	"errors"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/metrics"
	"github.com/tradepulse/secret-injector/agent/render"
	"github.com/tradepulse/secret-injector/agent/sink"
)

// fetchTimeout bounds one backend call when the caller's context has no
// earlier deadline: every network call has a deadline.
const fetchTimeout = 30 * time.Second

// refresh brings one secret up to date with the backend and records the
// outcome in its state and metrics. force skips the cheap version check
// (and, for a leased secret, asks for new credentials, which come with a
// new version). It reports whether the secret's files changed; the caller
// writes the payload.
func (a *Agent) refresh(ctx context.Context, st *secretState, force bool) (changed bool) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	if st.spec.Certificate != nil {
		return a.refreshCert(ctx, st, force)
	}
	name, ref := st.spec.Name, st.spec.Ref

	a.mu.Lock()
	held, present := st.version, st.files != nil
	a.mu.Unlock()

	start := time.Now()
	if !force && present && held != "" {
		if v, ok := a.backend.(backend.Versioner); ok {
			current, err := v.Version(ctx, ref)
			if err == nil && current == held {
				a.observe(start)
				a.succeed(st, held, nil, nil, metrics.ResultUnchanged)
				return false
			}
			if err != nil && !errors.Is(err, backend.ErrNotVersioned) {
				// Fetching as well would only double the calls to a backend
				// that is failing or throttling us.
				a.observe(start)
				return a.fail(st, err)
			}
			// A new version, or none to compare: fetch.
		}
	}

	sec, err := a.backend.Fetch(ctx, ref)
	a.observe(start)
	if err != nil {
		return a.fail(st, err)
	}
	// Forced or not, the version fetched tells whether anything changed: a
	// forced refresh (admin, a lease to replace) of a secret the backend
	// still holds at the same version is unchanged.
	if present && sec.Version == held {
		a.succeed(st, held, nil, sec.Lease, metrics.ResultUnchanged)
		return false
	}
	files, err := render.Render(st.spec, sec.Data, sec.Version)
	if err != nil {
		// The value cannot become the files it is configured as: keep the
		// last good files, as for a transient error, until a new version
		// arrives that renders.
		return a.fail(st, err)
	}
	a.succeed(st, sec.Version, files, sec.Lease, metrics.ResultUpdated)
	a.log.Info("secret updated", "secret", name, "version", sec.Version)
	return true
}

func (a *Agent) observe(start time.Time) {
	a.metrics.FetchDuration.WithLabelValues(a.backendName).Observe(time.Since(start).Seconds())
}

// succeed records a good refresh. files == nil keeps the files held.
func (a *Agent) succeed(st *secretState, version string, files []sink.File, lease *backend.Lease, result string) {
	now := time.Now()
	a.mu.Lock()
	st.version = version
	if files != nil {
		st.files = files
	}
	if lease != nil {
		st.lease = lease
	}
	st.ok, st.result, st.lastSuccess, st.lastError, st.failures = true, result, now, "", 0
	a.mu.Unlock()
	a.metrics.Refreshes.WithLabelValues(st.spec.Name, a.backendName, result).Inc()
	a.metrics.Status(st.spec.Name, a.backendName, true, now)
	if lease != nil {
		a.metrics.LeaseExpiry.WithLabelValues(st.spec.Name, a.backendName).Set(unixSeconds(lease.Expiry))
	}
}

// fail records a failed refresh. Gone or denied removes the secret's files
// (fail closed); anything else keeps the last good ones. It reports
// whether the files changed.
func (a *Agent) fail(st *secretState, err error) (changed bool) {
	result := metrics.ResultError
	switch {
	case errors.Is(err, backend.ErrNotFound):
		result = metrics.ResultNotFound
	case errors.Is(err, backend.ErrDenied):
		result = metrics.ResultDenied
	}
	closed := result != metrics.ResultError
	a.mu.Lock()
	// A certificate is kept, whatever the failure, until it expires:
	// removing it would not revoke it (certs.go).
	kept := keepsCert(st, time.Now())
	closed = closed && !kept
	changed = closed && st.files != nil
	if closed {
		st.files, st.version, st.lease = nil, "", nil
		st.validity, st.renewAt = nil, time.Time{}
	}
	st.ok, st.result, st.lastError = false, result, err.Error()
	st.failures++
	a.mu.Unlock()
	a.metrics.Refreshes.WithLabelValues(st.spec.Name, a.backendName, result).Inc()
	a.metrics.Status(st.spec.Name, a.backendName, false, time.Now())
	if closed {
		a.metrics.LeaseExpiry.DeleteLabelValues(st.spec.Name, a.backendName)
		a.metrics.CertExpiry.DeleteLabelValues(st.spec.Name, a.backendName)
		a.log.Warn("secret gone or denied; its files are removed until it is provisioned again",
			"secret", st.spec.Name, "result", result, "err", err)
	} else if kept {
		a.log.Warn("issuing a certificate failed; keeping the current one until it expires", "secret", st.spec.Name, "result", result, "err", err)
	} else {
		a.log.Warn("refreshing secret failed; keeping its last good value", "secret", st.spec.Name, "err", err)
	}
	return changed
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
