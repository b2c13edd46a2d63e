package vaulttest

import (
	"os"
	"path/filepath"
	"time"

	"github.com/tradepulse/secret-injector/webhook/certs"
)

// TLSFiles are the PEM files of a Vault listener's TLS: a private test CA
// and a serving certificate it signed.
type TLSFiles struct {
	// CACert is the CA's certificate: the bundle an agent must be given
	// to trust the listener.
	CACert string
	// Cert and Key are the listener's certificate and private key.
	Cert, Key string
}

// WriteTLS creates, under dir, a new CA (its own, trusted by nobody else)
// and a serving certificate it signed for hosts: DNS names or IP
// addresses. They are made as the webhook makes its own (webhook/certs,
// default lifetimes: valid from a few minutes ago for months), so that the
// tests' TLS and the product's come from one generator.
func WriteTLS(dir string, hosts ...string) (TLSFiles, error) {
	f := TLSFiles{
		CACert: filepath.Join(dir, "vault-ca.crt"),
		Cert:   filepath.Join(dir, "vault.crt"),
		Key:    filepath.Join(dir, "vault.key"),
	}
	r, err := certs.Reconcile(certs.Bundle{}, time.Now(), certs.Policy{Hosts: hosts}.WithDefaults())
	if err != nil {
		return f, err
	}
	for path, pem := range map[string][]byte{f.CACert: r.Bundle.CACerts, f.Cert: r.Bundle.Cert, f.Key: r.Bundle.Key} {
		if err := os.WriteFile(path, pem, 0o600); err != nil {
			return f, err
		}
	}
	return f, nil
}
