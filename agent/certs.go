package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/metrics"
	"github.com/tradepulse/secret-injector/agent/render"
)

// A certificate (a secret with config.Certificate) is not a lease: it
// cannot be renewed, and asking the backend again issues a new one. So it
// is never polled: the agent issues a new one at about 2/3 of the held
// one's validity (renewAt), retries failures with the usual backoff while
// keeping the held certificate — whatever the failure, since removing the
// file would not revoke a certificate the app has loaded — and removes it
// when it expires (fail closed: an expired certificate does not stay on
// the volume looking valid).

// minCertRenewDelay is the least time between obtaining a certificate and
// issuing the next: a certificate with almost no validity left (a tiny
// TTL, a skewed clock) must not make the agent issue in a tight loop.
const minCertRenewDelay = time.Second

// certRenewAt is when a certificate obtained at obtained is replaced: 2/3
// into its validity, made earlier by jitter (at most a tenth of the
// validity) so that pods issued together do not come back together, and
// never sooner than minCertRenewDelay after obtained.
func certRenewAt(v backend.Validity, obtained time.Time, jitter time.Duration) time.Time {
	life := v.NotAfter.Sub(v.NotBefore)
	if life < 0 {
		life = 0
	}
	jitter = min(max(jitter, 0), life/10)
	at := v.NotBefore.Add(life*2/3 - jitter)
	if floor := obtained.Add(minCertRenewDelay); at.Before(floor) {
		at = floor
	}
	return at
}

// certJitter draws certRenewAt's jitter for a validity.
func certJitter(v backend.Validity) time.Duration {
	life := v.NotAfter.Sub(v.NotBefore)
	if life <= 0 {
		return 0
	}
	return rand.N(life/10 + 1)
}

// refreshCert is refresh for a certificate: before its renewal time (and
// unless forced) the held certificate is kept without asking the backend;
// after it, a new one is issued. An expired certificate is removed first.
func (a *Agent) refreshCert(ctx context.Context, st *secretState, force bool) (changed bool) {
	now := time.Now()
	a.mu.Lock()
	present, held, v, renewAt := st.files != nil, st.version, st.validity, st.renewAt
	a.mu.Unlock()
	expired := present && v != nil && !now.Before(v.NotAfter)
	if expired {
		changed = a.expireCert(st, v.NotAfter)
		present = false
	}
	// failed records a failure; status keeps saying that the certificate
	// expired, and why no new one came.
	failed := func(err error) bool {
		c := a.fail(st, err)
		if expired {
			a.mu.Lock()
			st.lastError = expiredMessage(v.NotAfter) + "; last attempt: " + st.lastError
			a.mu.Unlock()
		}
		return c || changed
	}
	if !force && present && v != nil && now.Before(renewAt) {
		a.succeed(st, held, nil, nil, metrics.ResultUnchanged)
		a.metrics.CertExpiry.WithLabelValues(st.spec.Name, a.backendName).Set(unixSeconds(v.NotAfter))
		return changed
	}

	spec := st.spec
	issuer, ok := a.backend.(backend.Issuer)
	if !ok {
		return failed(fmt.Errorf("certificate %q: backend %s issues no certificates: %w", spec.Ref, a.backendName, backend.ErrNotFound))
	}
	c := spec.Certificate
	start := time.Now()
	sec, err := issuer.Issue(ctx, spec.Ref, backend.CertRequest{
		CommonName:  c.CommonName,
		DNSNames:    c.AltNames,
		IPAddresses: c.IPSANs,
		TTL:         time.Duration(c.TTL),
	})
	a.observe(start)
	if err == nil && sec.Validity == nil {
		err = fmt.Errorf("certificate %q: the backend gave no validity, will retry", spec.Ref)
	}
	if err != nil {
		return failed(err)
	}
	files, err := render.Render(spec, sec.Data, sec.Version)
	if err != nil {
		return failed(err)
	}
	validity := *sec.Validity
	next := certRenewAt(validity, now, certJitter(validity))
	a.mu.Lock()
	st.validity, st.renewAt = &validity, next
	a.mu.Unlock()
	a.succeed(st, sec.Version, files, nil, metrics.ResultUpdated)
	a.metrics.CertExpiry.WithLabelValues(spec.Name, a.backendName).Set(unixSeconds(validity.NotAfter))
	a.log.Info("certificate issued", "secret", spec.Name, "serial", sec.Version,
		"notAfter", validity.NotAfter.UTC().Format(time.RFC3339), "renewAt", next.UTC().Format(time.RFC3339))
	return true
}

// expireCert removes a certificate that expired before a new one could be
// issued. It reports whether the files changed.
func (a *Agent) expireCert(st *secretState, notAfter time.Time) bool {
	a.mu.Lock()
	changed := st.files != nil
	st.files, st.version, st.validity, st.renewAt = nil, "", nil, time.Time{}
	st.ok, st.result, st.lastError = false, metrics.ResultError, expiredMessage(notAfter)
	a.mu.Unlock()
	a.metrics.Status(st.spec.Name, a.backendName, false, time.Now())
	a.metrics.CertExpiry.DeleteLabelValues(st.spec.Name, a.backendName)
	a.log.Warn("certificate expired before a new one could be issued; its files are removed until one is",
		"secret", st.spec.Name, "notAfter", notAfter.UTC().Format(time.RFC3339))
	return changed
}

func expiredMessage(notAfter time.Time) string {
	return "certificate expired at " + notAfter.UTC().Format(time.RFC3339) + " before a new one could be issued; its files are removed"
}

// keepsCert reports whether a failing certificate keeps its files: it
// does until it expires, whatever the failure. Caller holds a.mu.
func keepsCert(st *secretState, now time.Time) bool {
	return st.spec.Certificate != nil && st.files != nil && st.validity != nil && now.Before(st.validity.NotAfter)
}

// certDelay is nextDelay for a certificate: until its renewal time while
// healthy; the usual backoff while failing, but never past its expiry, so
// that an expired certificate is removed on time.
func (a *Agent) certDelay(st *secretState) time.Duration {
	now := time.Now()
	a.mu.Lock()
	ok, failures, present, v, renewAt := st.ok, st.failures, st.files != nil, st.validity, st.renewAt
	a.mu.Unlock()
	if ok && present && v != nil {
		return max(renewAt.Sub(now), 0)
	}
	interval := time.Duration(st.spec.RefreshInterval)
	d := backoff(max(failures, 1), min(interval, backoffMax))
	if present && v != nil {
		d = min(d, max(v.NotAfter.Sub(now), 0))
	}
	return d
}
