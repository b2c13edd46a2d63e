package vaulttest

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
)

// PKI is a PKI engine mounted for one test, with a generated root CA.
type PKI struct {
	// Mount is the engine's path, without a trailing slash.
	Mount string
	// RootPEM is the root CA certificate.
	RootPEM string
	env     *Env
}

// PKIMount mounts a fresh PKI engine at a unique path (pki-<random>),
// allowing certificates of up to 24 h, and generates an internal root CA
// in it. It is unmounted when the test ends.
func (e *Env) PKIMount(t testing.TB) *PKI {
	t.Helper()
	root := e.Root(t)
	path := Unique("pki-")
	ctx := Context(t, cleanupTimeout)
	err := root.Sys().MountWithContext(ctx, path, &api.MountInput{
		Type:   "pki",
		Config: api.MountConfigInput{MaxLeaseTTL: "24h"},
	})
	if err != nil {
		t.Fatalf("mount pki at %s: %v", path, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		_ = root.Sys().UnmountWithContext(ctx, path)
	})
	sec, err := root.Logical().WriteWithContext(ctx, path+"/root/generate/internal", map[string]any{
		"common_name": "secret-injector test root " + path,
		"ttl":         "24h",
		"key_type":    "ec",
		"key_bits":    256,
	})
	if err != nil {
		t.Fatalf("generate root in %s: %v", path, err)
	}
	cert, _ := sec.Data["certificate"].(string)
	return &PKI{Mount: path, RootPEM: cert, env: e}
}

// Role writes a role under a unique name with params (allowed_domains,
// allow_subdomains, max_ttl, …) and returns its issuing path,
// <mount>/issue/<role>. It is gone with the mount.
func (p *PKI) Role(t testing.TB, params map[string]any) string {
	t.Helper()
	name := Unique("role-")
	role := map[string]any{"key_type": "ec", "key_bits": 256}
	for k, v := range params {
		role[k] = v
	}
	if _, err := p.env.Root(t).Logical().WriteWithContext(Context(t, cleanupTimeout), p.Mount+"/roles/"+name, role); err != nil {
		t.Fatalf("pki role %s: %v", name, err)
	}
	return p.Mount + "/issue/" + name
}

// IssuePolicy grants what an agent needs to issue at issuePath (a
// <mount>/issue/<role> path).
func IssuePolicy(issuePath string) string {
	return `path "` + issuePath + `" { capabilities = ["create", "update"] }
`
}

// SerialOf formats a certificate's serial number as Vault does (hex bytes
// joined by ':'), to compare a certificate with what Vault and the agent's
// status report.
func SerialOf(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}
