package backend

import (
	"context"
	"time"
)

// Issuer is implemented by backends that issue a certificate on request
// (Vault's PKI engine). Unlike Fetch, every call makes a new certificate
// and key: the agent calls Issue only when its schedule says so (about
// 2/3 into the previous certificate's validity), never on a poll.
type Issuer interface {
	// Issue asks the backend at ref (an issuing path, e.g. Vault's
	// "pki/issue/web") for a certificate as req describes. The Secret's
	// Data is a JSON object {"cert.pem", "key.pem", "ca.pem"} of PEM
	// text, its Version the certificate's serial number and its Validity
	// the certificate's. Errors wrap ErrNotFound or ErrDenied when asking
	// again will not help (the role is gone, or forbids the names); they
	// never contain the key.
	Issue(ctx context.Context, ref string, req CertRequest) (Secret, error)
}

// CertRequest is what a certificate is asked for with. The issuer (its
// role) decides what it allows; the agent only passes it on.
type CertRequest struct {
	// CommonName is the subject's CN; empty leaves it to the issuer.
	CommonName string
	// DNSNames and IPAddresses are the subject alternative names.
	DNSNames    []string
	IPAddresses []string
	// TTL is the requested lifetime; zero takes the issuer's default. The
	// issuer may shorten it.
	TTL time.Duration
}

// Validity is when a value that cannot be renewed is good: a
// certificate's NotBefore and NotAfter. The agent replaces it at about
// 2/3 of it, keeps it through failures until NotAfter, and removes it
// then (fail closed).
type Validity struct {
	NotBefore time.Time
	NotAfter  time.Time
}

// Names of the files a certificate's Data holds, the JSON object's keys:
// with format json they become <name>/cert.pem, <name>/key.pem and
// <name>/ca.pem.
const (
	CertFile = "cert.pem" // the certificate alone, PEM
	KeyFile  = "key.pem"  // its private key, PEM
	CAFile   = "ca.pem"   // the issuing CA chain, PEM, the root last
)
