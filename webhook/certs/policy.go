// Package certs generates and rotates the webhook's self-managed TLS material:
// a private CA and a serving certificate signed by it.
//
// Everything here is pure: the caller passes the stored Bundle and the time,
// and gets back the Bundle to store. Reconcile decides what is due (a missing
// or expiring serving certificate, a CA near its end), so the same function
// serves the first start, routine renewal and CA rotation, and tests drive it
// with any clock.
//
// CA rotation overlaps: a new CA first joins the trust bundle next to the old
// one and only signs serving certificates once PropagationDelay has passed, so
// that every API server already trusts it; the old CA leaves the bundle when
// it expires.
package certs

import (
	"cmp"
	"errors"
	"fmt"
	"time"
)

// Default lifetimes: long enough to be quiet, short enough that rotation is
// exercised in production, with renewal well before expiry.
const (
	DefaultCAValidity         = 5 * 365 * 24 * time.Hour
	DefaultCARotateBefore     = 365 * 24 * time.Hour
	DefaultServingValidity    = 90 * 24 * time.Hour
	DefaultServingRenewBefore = 30 * 24 * time.Hour
	DefaultPropagationDelay   = 10 * time.Minute
)

// backdate is subtracted from NotBefore so that a peer whose clock runs a
// little behind accepts a fresh certificate.
const backdate = 5 * time.Minute

// Policy says what to issue and when to renew.
type Policy struct {
	// Hosts are the serving certificate's subject alternative names: DNS
	// names or IP addresses. At least one is required.
	Hosts []string
	// CAValidity is the lifetime of a new CA.
	CAValidity time.Duration
	// CARotateBefore starts a new CA when the newest has less than this left.
	CARotateBefore time.Duration
	// ServingValidity is the lifetime of a new serving certificate (capped by
	// its CA's).
	ServingValidity time.Duration
	// ServingRenewBefore renews the serving certificate when it has less than
	// this left.
	ServingRenewBefore time.Duration
	// PropagationDelay is how long a new CA sits in the trust bundle before
	// it signs: time for the caBundle to reach every API server.
	PropagationDelay time.Duration
}

// WithDefaults fills zero durations with the defaults.
func (p Policy) WithDefaults() Policy {
	p.CAValidity = cmp.Or(p.CAValidity, DefaultCAValidity)
	p.CARotateBefore = cmp.Or(p.CARotateBefore, DefaultCARotateBefore)
	p.ServingValidity = cmp.Or(p.ServingValidity, DefaultServingValidity)
	p.ServingRenewBefore = cmp.Or(p.ServingRenewBefore, DefaultServingRenewBefore)
	p.PropagationDelay = cmp.Or(p.PropagationDelay, DefaultPropagationDelay)
	return p
}

// Validate rejects policies that would renew in a loop or never overlap.
func (p Policy) Validate() error {
	var errs []error
	if len(p.Hosts) == 0 {
		errs = append(errs, errors.New("certs policy: hosts is empty"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"caValidity", p.CAValidity},
		{"caRotateBefore", p.CARotateBefore},
		{"servingValidity", p.ServingValidity},
		{"servingRenewBefore", p.ServingRenewBefore},
		{"propagationDelay", p.PropagationDelay},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("certs policy: %s must be positive, got %s", d.name, d.v))
		}
	}
	if p.CARotateBefore >= p.CAValidity {
		errs = append(errs, fmt.Errorf("certs policy: caRotateBefore (%s) must be shorter than caValidity (%s)", p.CARotateBefore, p.CAValidity))
	}
	if p.ServingRenewBefore >= p.ServingValidity {
		errs = append(errs, fmt.Errorf("certs policy: servingRenewBefore (%s) must be shorter than servingValidity (%s)", p.ServingRenewBefore, p.ServingValidity))
	}
	// A serving certificate signed by a CA that is being replaced must still
	// be fresh after the new CA propagates, or it would be renewed each round.
	if p.CARotateBefore <= p.ServingRenewBefore+p.PropagationDelay {
		errs = append(errs, fmt.Errorf("certs policy: caRotateBefore (%s) must exceed servingRenewBefore + propagationDelay (%s)",
			p.CARotateBefore, p.ServingRenewBefore+p.PropagationDelay))
	}
	return errors.Join(errs...)
}
