package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"time"
)

// Result is what Reconcile decided.
type Result struct {
	// Bundle is the material to store and serve.
	Bundle Bundle
	// Changed reports whether Bundle differs from the input.
	Changed bool
	// Reasons says what was done, in order, for the log.
	Reasons []string
	// NextCheck is when something next falls due (a renewal, a CA rotation,
	// the end of a propagation delay, an expiry); calling Reconcile earlier
	// changes nothing.
	NextCheck time.Time
}

// Reconcile returns the bundle that should be stored at now: it creates what
// is missing or unreadable, renews what is due, rotates the CA with overlap
// and drops expired CAs. A bundle that needs nothing comes back unchanged.
func Reconcile(b Bundle, now time.Time, p Policy) (Result, error) {
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	var reasons []string
	cas, problems := parseCAs(b.CACerts, b.CAKeys)
	if problems != nil {
		reasons = append(reasons, "dropped unreadable ca entries")
	}
	if n := len(cas); n > 0 {
		cas = dropExpired(cas, now)
		if len(cas) < n {
			reasons = append(reasons, "dropped expired ca")
		}
	}
	sortCAs(cas)

	if active := newestWithKey(cas); active == nil {
		c, err := newCA(now, p.CAValidity)
		if err != nil {
			return Result{}, err
		}
		cas = append([]ca{c}, cas...)
		reasons = append(reasons, "created ca")
	} else if active.cert.NotAfter.Sub(now) <= p.CARotateBefore {
		c, err := newCA(now, p.CAValidity)
		if err != nil {
			return Result{}, err
		}
		cas = append([]ca{c}, cas...)
		reasons = append(reasons, "started ca rotation")
	}

	signer := pickSigner(cas, now, p.PropagationDelay)
	out := Bundle{Cert: b.Cert, Key: b.Key}
	if why := servingProblem(b, cas, signer, now, p); why != "" {
		certPEM, keyPEM, err := newServing(*signer, p.Hosts, now, p.ServingValidity)
		if err != nil {
			return Result{}, err
		}
		out.Cert, out.Key = certPEM, keyPEM
		reasons = append(reasons, "issued serving certificate: "+why)
	}
	var err error
	out.CACerts, out.CAKeys, err = encodeCAs(cas)
	if err != nil {
		return Result{}, err
	}
	return Result{
		Bundle:    out,
		Changed:   !out.Equal(b),
		Reasons:   reasons,
		NextCheck: nextCheck(out, cas, now, p),
	}, nil
}

func newestWithKey(cas []ca) *ca {
	for i := range cas {
		if cas[i].key != nil {
			return &cas[i]
		}
	}
	return nil
}

// created is when a CA was made (NotBefore is backdated).
func created(c ca) time.Time { return c.cert.NotBefore.Add(backdate) }

// pickSigner returns the newest CA that has been trusted for long enough, or
// the newest CA when none has (the first start: nothing to overlap with).
func pickSigner(cas []ca, now time.Time, delay time.Duration) *ca {
	for i := range cas {
		if cas[i].key != nil && !now.Before(created(cas[i]).Add(delay)) {
			return &cas[i]
		}
	}
	return newestWithKey(cas)
}

// servingProblem says why the stored serving certificate must be replaced,
// or "" when it can stay.
func servingProblem(b Bundle, cas []ca, signer *ca, now time.Time, p Policy) string {
	if len(b.Cert) == 0 || len(b.Key) == 0 {
		return "none stored"
	}
	pair, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		return "stored pair unreadable"
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return "stored certificate unreadable"
		}
	}
	if !coversHosts(leaf, p.Hosts) {
		return "hosts changed"
	}
	if now.Before(leaf.NotBefore) {
		return "not yet valid"
	}
	if leaf.NotAfter.Sub(now) <= p.ServingRenewBefore {
		return "due for renewal"
	}
	// Signed by the signer, or by a CA newer than it: never move backwards.
	for i := range cas {
		if isIssuedBy(leaf, cas[i].cert) {
			return ""
		}
		if cas[i].cert == signer.cert {
			break
		}
	}
	return "moving to the current ca"
}

func isIssuedBy(leaf, caCert *x509.Certificate) bool {
	return bytes.Equal(leaf.RawIssuer, caCert.RawSubject) && leaf.CheckSignatureFrom(caCert) == nil
}

func coversHosts(leaf *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(leaf.DNSNames, h) {
			return false
		}
	}
	return true
}

// nextCheck is the earliest moment at which Reconcile would act on out.
func nextCheck(out Bundle, cas []ca, now time.Time, p Policy) time.Time {
	var times []time.Time
	if pair, err := tls.X509KeyPair(out.Cert, out.Key); err == nil && pair.Leaf != nil {
		times = append(times, pair.Leaf.NotAfter.Add(-p.ServingRenewBefore))
	}
	if active := newestWithKey(cas); active != nil {
		times = append(times, active.cert.NotAfter.Add(-p.CARotateBefore))
	}
	signer := pickSigner(cas, now, p.PropagationDelay)
	for _, c := range cas {
		times = append(times, c.cert.NotAfter)
		// A CA newer than the signer takes over once it has propagated.
		if signer != nil && c.cert.NotBefore.After(signer.cert.NotBefore) {
			times = append(times, created(c).Add(p.PropagationDelay))
		}
	}
	next := now.Add(p.ServingValidity)
	for _, t := range times {
		if t.Before(next) {
			next = t
		}
	}
	if next.Before(now) {
		next = now
	}
	return next
}

// Describe summarises a bundle for logs: CA subjects and expiries, the
// serving certificate's expiry. It never includes key material.
func Describe(b Bundle) string {
	certs, _ := parseCertificates(b.CACerts)
	s := fmt.Sprintf("%d ca", len(certs))
	for _, c := range certs {
		s += fmt.Sprintf(" [%s until %s]", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	}
	if pair, err := tls.X509KeyPair(b.Cert, b.Key); err == nil && pair.Leaf != nil {
		s += fmt.Sprintf(", serving until %s", pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	} else {
		s += ", no serving certificate"
	}
	return s
}
