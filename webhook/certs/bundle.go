package certs

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Keys of the Secret that stores a Bundle. ca.crt, tls.crt and tls.key are
// the names every Kubernetes tool expects; ca.key lets any replica renew.
const (
	KeyCACert = "ca.crt"
	KeyCAKey  = "ca.key"
	KeyCert   = "tls.crt"
	KeyKey    = "tls.key"
)

// Bundle is the self-managed TLS material, PEM encoded, as stored.
type Bundle struct {
	// CACerts holds every CA still trusted, newest first: the caBundle.
	CACerts []byte
	// CAKeys holds the private keys of those CAs that can still sign.
	CAKeys []byte
	// Cert is the serving certificate (leaf only); Key is its private key.
	Cert []byte
	Key  []byte
}

// FromSecretData reads a Bundle from a Secret's data; missing keys stay empty.
func FromSecretData(data map[string][]byte) Bundle {
	return Bundle{
		CACerts: data[KeyCACert],
		CAKeys:  data[KeyCAKey],
		Cert:    data[KeyCert],
		Key:     data[KeyKey],
	}
}

// SecretData is the Secret data holding b.
func (b Bundle) SecretData() map[string][]byte {
	return map[string][]byte{
		KeyCACert: b.CACerts,
		KeyCAKey:  b.CAKeys,
		KeyCert:   b.Cert,
		KeyKey:    b.Key,
	}
}

// Equal reports whether two bundles hold the same bytes.
func (b Bundle) Equal(o Bundle) bool {
	return bytes.Equal(b.CACerts, o.CACerts) && bytes.Equal(b.CAKeys, o.CAKeys) &&
		bytes.Equal(b.Cert, o.Cert) && bytes.Equal(b.Key, o.Key)
}

// ServingCertificate parses the serving pair, as a TLS server would load it.
func (b Bundle) ServingCertificate() (tls.Certificate, error) {
	c, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("serving certificate %s/%s: %w", KeyCert, KeyKey, err)
	}
	return c, nil
}

// CertPool is the trust bundle as a pool, for verifying the serving chain.
func (b Bundle) CertPool() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.CACerts) {
		return nil, fmt.Errorf("%s holds no certificate", KeyCACert)
	}
	return pool, nil
}

// ca is one CA, with its key when the bundle still has it.
type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// parseCAs pairs every CA certificate with its key by public key, dropping
// what does not parse. Unreadable entries are reported, not fatal: the
// caller replaces them.
func parseCAs(certsPEM, keysPEM []byte) ([]ca, error) {
	var problems []error
	certs, err := parseCertificates(certsPEM)
	if err != nil {
		problems = append(problems, fmt.Errorf("%s: %w", KeyCACert, err))
	}
	keys, err := parsePrivateKeys(keysPEM)
	if err != nil {
		problems = append(problems, fmt.Errorf("%s: %w", KeyCAKey, err))
	}
	var out []ca
	for _, c := range certs {
		if !c.IsCA || !c.BasicConstraintsValid {
			problems = append(problems, fmt.Errorf("%s: certificate %q is not a CA", KeyCACert, c.Subject.CommonName))
			continue
		}
		entry := ca{cert: c}
		for _, k := range keys {
			if publicKeysEqual(k.Public(), c.PublicKey) {
				entry.key = k
				break
			}
		}
		out = append(out, entry)
	}
	return out, errors.Join(problems...)
}

// sortCAs orders newest first, the order of the stored bundle.
func sortCAs(cas []ca) {
	slices.SortStableFunc(cas, func(a, b ca) int { return b.cert.NotBefore.Compare(a.cert.NotBefore) })
}

// dropExpired keeps the CAs still valid at now.
func dropExpired(cas []ca, now time.Time) []ca {
	return slices.DeleteFunc(cas, func(c ca) bool { return !now.Before(c.cert.NotAfter) })
}

func encodeCAs(cas []ca) (certsPEM, keysPEM []byte, err error) {
	for _, c := range cas {
		certsPEM = append(certsPEM, encodeCert(c.cert)...)
		if c.key != nil {
			k, err := encodeKey(c.key)
			if err != nil {
				return nil, nil, err
			}
			keysPEM = append(keysPEM, k...)
		}
	}
	return certsPEM, keysPEM, nil
}

func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	var errs []error
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			errs = append(errs, fmt.Errorf("unexpected PEM block %q", block.Type))
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

func parsePrivateKeys(data []byte) ([]crypto.Signer, error) {
	var out []crypto.Signer
	var errs []error
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		k, err := parsePrivateKey(block)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, k)
	}
	return out, errors.Join(errs...)
}

func parsePrivateKey(block *pem.Block) (crypto.Signer, error) {
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
	}
	if err != nil {
		// The parser's message never quotes key material.
		return nil, fmt.Errorf("private key: %w", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", key)
	}
	return s, nil
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
