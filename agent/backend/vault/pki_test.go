package vault_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/vault"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
)

// pkiSetup mounts a PKI engine with a role allowing *.example.test for up
// to maxTTL, and a backend whose token may issue from it.
func pkiSetup(t *testing.T, maxTTL time.Duration) (*vaulttest.Env, *vaulttest.PKI, string, *vault.Backend, *logs) {
	t.Helper()
	bed := vaulttest.Bed(t)
	pki := bed.PKIMount(t)
	ref := pki.Role(t, map[string]any{
		"allowed_domains":  "example.test",
		"allow_subdomains": true,
		"max_ttl":          maxTTL.String(),
	})
	b, l := tokenBackend(t, bed, bed.Policy(t, vaulttest.IssuePolicy(ref)))
	return bed, pki, ref, b, l
}

// certFiles splits an issued certificate's Data into its files.
func certFiles(t *testing.T, sec backend.Secret, l *logs) map[string]string {
	t.Helper()
	var files map[string]string
	if err := json.Unmarshal(sec.Data, &files); err != nil {
		t.Fatalf("certificate data is not a JSON object: %v", err)
	}
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{backend.CAFile, backend.CertFile, backend.KeyFile}; !slices.Equal(keys, want) {
		t.Fatalf("certificate files %v, want %v", keys, want)
	}
	l.forbid(files[backend.KeyFile], keyBody(files[backend.KeyFile]))
	return files
}

// keyBody is a line from the middle of a PEM key: what a leak of any part
// of it would show.
func keyBody(keyPEM string) string {
	lines := strings.Split(strings.TrimSpace(keyPEM), "\n")
	if len(lines) < 3 {
		return keyPEM
	}
	return lines[1]
}

// opensslVerify writes files into a directory and has the real openssl
// verify the certificate against the chain.
func opensslVerify(t *testing.T, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	vaulttest.OpenSSLVerify(t, filepath.Join(dir, backend.CAFile), filepath.Join(dir, backend.CertFile))
}

func parseLeaf(t *testing.T, certPEM string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		t.Fatal("cert.pem holds no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("cert.pem: %v", err)
	}
	return c
}

// TestIssueCertificate issues a certificate from a real PKI engine: the
// chain verifies with openssl, the key is the certificate's, the names and
// lifetime are those asked for, the version is the serial number, and the
// key never reaches the logs.
func TestIssueCertificate(t *testing.T) {
	t.Parallel()
	_, pki, ref, b, l := pkiSetup(t, time.Hour)
	const ttl = 30 * time.Minute
	issued := time.Now()
	sec, err := b.Issue(ctx(t, 10*time.Second), ref, backend.CertRequest{
		CommonName:  "web.example.test",
		DNSNames:    []string{"api.example.test", "*.web.example.test"},
		IPAddresses: []string{"10.0.0.7", "fd00::7"},
		TTL:         ttl,
	})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	files := certFiles(t, sec, l)
	opensslVerify(t, files)
	if _, err := tls.X509KeyPair([]byte(files[backend.CertFile]), []byte(files[backend.KeyFile])); err != nil {
		t.Errorf("the key is not the certificate's: %v", err)
	}
	if !strings.Contains(files[backend.CAFile], strings.TrimSpace(pki.RootPEM)) {
		t.Error("ca.pem does not hold the mount's root CA")
	}

	leaf := parseLeaf(t, files[backend.CertFile])
	if leaf.Subject.CommonName != "web.example.test" {
		t.Errorf("CN %q, want web.example.test", leaf.Subject.CommonName)
	}
	dns := slices.Sorted(slices.Values(leaf.DNSNames))
	if want := []string{"*.web.example.test", "api.example.test", "web.example.test"}; !slices.Equal(dns, want) {
		t.Errorf("DNS SANs %v, want %v (the CN is added by Vault)", dns, want)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if want := []string{"10.0.0.7", "fd00::7"}; !slices.Equal(ips, want) {
		t.Errorf("IP SANs %v, want %v", ips, want)
	}
	if d := leaf.NotAfter.Sub(issued); d < ttl-5*time.Second || d > ttl+5*time.Second {
		t.Errorf("NotAfter is %s after the request, want about %s", d, ttl)
	}
	v := sec.Validity
	if v == nil || !v.NotBefore.Equal(leaf.NotBefore) || !v.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("Validity %+v, want the certificate's %s – %s", v, leaf.NotBefore, leaf.NotAfter)
	}
	if want := vaulttest.SerialOf(leaf); sec.Version != want {
		t.Errorf("version %q, want the serial number %q", sec.Version, want)
	}
	if sec.Lease != nil {
		t.Errorf("a certificate came with a lease %+v", sec.Lease)
	}

	// Each Issue is a new certificate with a new key.
	again, err := b.Issue(ctx(t, 10*time.Second), ref, backend.CertRequest{CommonName: "web.example.test", TTL: ttl})
	if err != nil {
		t.Fatalf("second Issue: %v", err)
	}
	files2 := certFiles(t, again, l)
	if again.Version == sec.Version || files2[backend.KeyFile] == files[backend.KeyFile] {
		t.Error("a second Issue returned the same certificate or key")
	}
}

// TestIssueRefusedByRole: a name the role does not allow, and an unknown
// role, are ErrDenied (fail-closed kind) with Vault's reason naming the
// name; the error never holds a key.
func TestIssueRefusedByRole(t *testing.T) {
	t.Parallel()
	bed, pki, ref, b, l := pkiSetup(t, time.Hour)
	_, err := b.Issue(ctx(t, 10*time.Second), ref, backend.CertRequest{CommonName: "web.evil.test"})
	if !errors.Is(err, backend.ErrDenied) {
		t.Fatalf("Issue of a name the role forbids: %v, want ErrDenied", err)
	}
	t.Logf("refusal: %v", err)
	if msg := err.Error(); !strings.Contains(msg, "web.evil.test") || !strings.Contains(msg, "not allowed") || !strings.Contains(msg, ref) {
		t.Errorf("error does not say which name the role refused: %v", err)
	}
	if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(l.String(), "PRIVATE KEY") {
		t.Errorf("a refusal shows a private key: %v", err)
	}

	_, err = b.Issue(ctx(t, 10*time.Second), ref, backend.CertRequest{CommonName: "web.example.test", IPAddresses: []string{"10.0.0.1"}, DNSNames: []string{"x.evil.test"}})
	if !errors.Is(err, backend.ErrDenied) || !strings.Contains(err.Error(), "x.evil.test") {
		t.Errorf("Issue with an alt name the role forbids: %v, want ErrDenied naming it", err)
	}

	// A role that does not exist (within the policy's reach).
	other := pki.Mount + "/issue/nope"
	b2, _ := tokenBackend(t, bed, bed.Policy(t, vaulttest.IssuePolicy(other)))
	if _, err := b2.Issue(ctx(t, 10*time.Second), other, backend.CertRequest{CommonName: "web.example.test"}); !errors.Is(err, backend.ErrDenied) {
		t.Errorf("Issue from an unknown role: %v, want ErrDenied", err)
	}

	// A token without the policy.
	b3, _ := tokenBackend(t, bed, "default")
	if _, err := b3.Issue(ctx(t, 10*time.Second), ref, backend.CertRequest{CommonName: "web.example.test"}); !errors.Is(err, backend.ErrDenied) {
		t.Errorf("Issue without the policy: %v, want ErrDenied", err)
	}
}

// TestIssueWrongReferences: a reference that is not a PKI issuing path is
// refused before anything is issued, and Fetch of an issuing path says
// what is missing; both fail closed.
func TestIssueWrongReferences(t *testing.T) {
	t.Parallel()
	bed, pki, ref, b, _ := pkiSetup(t, time.Hour)
	kv := bed.KVMount(t, 2)
	bk, _ := tokenBackend(t, bed, bed.Policy(t, kvPolicy(kv, 2)+vaulttest.IssuePolicy(ref)))

	_, err := b.Fetch(ctx(t, 10*time.Second), ref)
	if !backend.FailsClosed(err) || !strings.Contains(err.Error(), "cert-common-name") {
		t.Errorf("Fetch of an issuing path: %v, want a fail-closed error naming the certificate settings", err)
	}
	for _, tc := range []struct {
		b    *vault.Backend
		ref  string
		want string
	}{
		{bk, kv + "/issue/web", "not pki"},
		{b, pki.Mount + "/sign/web", "issue/<role>"},
		{b, ref + "#cert", "no #field"},
	} {
		_, err := tc.b.Issue(ctx(t, 10*time.Second), tc.ref, backend.CertRequest{CommonName: "web.example.test"})
		if !backend.FailsClosed(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Issue(%q): %v, want a fail-closed error saying %q", tc.ref, err, tc.want)
		}
	}
}

// TestIssueTTLCappedByRole: Vault caps a TTL above the role's max_ttl;
// the Validity says what was actually given.
func TestIssueTTLCappedByRole(t *testing.T) {
	t.Parallel()
	_, _, ref, b, l := pkiSetup(t, 2*time.Minute)
	sec, err := b.Issue(ctx(t, 10*time.Second), ref, backend.CertRequest{CommonName: "web.example.test", TTL: time.Hour})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	leaf := parseLeaf(t, certFiles(t, sec, l)[backend.CertFile])
	if d := time.Until(leaf.NotAfter); d > 2*time.Minute+5*time.Second {
		t.Errorf("certificate lives %s, beyond the role's max_ttl of 2m", d)
	}
	if !sec.Validity.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("Validity.NotAfter %s, want the certificate's %s", sec.Validity.NotAfter, leaf.NotAfter)
	}
}
