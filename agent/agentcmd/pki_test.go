package agentcmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
)

// TestAgentIssuesCertificates runs the agent (init, then sidecar) against
// the real PKI engine of the Vault test bed, with a 30 s certificate:
//
//   - init writes cert.pem, key.pem and ca.pem together, mode 0400; the
//     chain verifies with openssl, the key is the certificate's, the names
//     are the config's;
//   - the sidecar keeps the init container's certificate (no new issue at
//     start), and issues a new one before 2/3 of its validity, telling the
//     app; the expiry gauge follows;
//   - when the role stops allowing the name, the certificate is kept
//     until it expires, status says why, then its files are removed (fail
//     closed); when the role allows it again, a new one is written;
//   - the private key never reaches a log line or the status answer.
func TestAgentIssuesCertificates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent against the Vault test bed's PKI engine for about a minute")
	}
	bed := vaulttest.Bed(t)
	pki := bed.PKIMount(t)
	allow := map[string]any{"allowed_domains": "example.test", "allow_subdomains": true, "max_ttl": "1h"}
	ref := pki.Role(t, allow)
	role := strings.Replace(ref, "/issue/", "/roles/", 1)
	token := bed.Token(t, time.Hour, bed.Policy(t, vaulttest.IssuePolicy(ref)))

	dir := t.TempDir()
	var reloads atomic.Int64
	reload := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reloads.Add(1) }))
	t.Cleanup(reload.Close)
	adminAddr, metricsAddr := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`version: secrets.tradepulse.io/v1
backend: {type: vault, vault: {address: %q, auth: token, tokenPath: %q}}
mountPath: %s
refreshInterval: 2s
adminAddr: %s
metricsAddr: %s
notify: {url: %q, debounce: 100ms}
secrets:
  - name: web-tls
    ref: %s
    certificate: {commonName: web.example.test, altNames: [api.example.test], ipSANs: [10.0.0.7], ttl: 30s}
`, bed.Addr, vaulttest.WriteFile(t, "token", token), dir, adminAddr, metricsAddr, reload.URL, ref)
	path := vaulttest.WriteFile(t, "agent.yaml", cfg)
	a := &vaultAgent{dir: dir, admin: adminAddr, metrics: metricsAddr}
	var logs lockedBuffer
	var keys []string // every private key written, none of which may be logged
	t.Cleanup(func() {
		out := logs.String()
		if t.Failed() {
			t.Logf("agent logs:\n%s", out)
		}
		for _, k := range keys {
			if strings.Contains(out, keyLine(k)) {
				t.Errorf("a private key reached the logs:\n%s", out)
			}
		}
	})

	// Init: the files, verified as an app and openssl would.
	initCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := agentMain(initCtx, []string{"--mode", "init", "--config", path, "--log-format", "json"}, &logs); err != nil {
		t.Fatalf("init: %v\n%s", err, logs.String())
	}
	first := checkCertFiles(t, dir)
	keys = append(keys, a.file("web-tls/key.pem"))
	if first.Subject.CommonName != "web.example.test" || !slices.Contains(first.DNSNames, "api.example.test") ||
		len(first.IPAddresses) != 1 || first.IPAddresses[0].String() != "10.0.0.7" {
		t.Errorf("certificate CN %q, DNS %v, IP %v; want web.example.test, api.example.test, 10.0.0.7",
			first.Subject.CommonName, first.DNSNames, first.IPAddresses)
	}
	for _, f := range []string{"cert.pem", "key.pem", "ca.pem"} {
		if fi, err := os.Stat(filepath.Join(dir, "web-tls", f)); err != nil || fi.Mode().Perm() != 0o400 {
			t.Errorf("web-tls/%s: %v, mode %v; want 0400", f, err, fi.Mode().Perm())
		}
	}

	// The sidecar resumes the init container's certificate.
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agentMain(ctx, []string{"--mode", "sidecar", "--config", path, "--log-format", "json"}, &logs)
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("sidecar: %v", err)
		}
	})
	waitFor(t, 10*time.Second, func() bool { return freePortAnswers(adminAddr) && a.status(t)["web-tls"].OK })
	if v := a.status(t)["web-tls"].Version; v != vaulttest.SerialOf(first) {
		t.Errorf("the sidecar's certificate is %s, want the init container's %s: it issued anew at start", v, vaulttest.SerialOf(first))
	}
	if got := a.metric(t, "secret_certificate_expiry_timestamp_seconds", `secret="web-tls"`); got != float64(first.NotAfter.Unix()) {
		t.Errorf("expiry gauge %v, want %d", got, first.NotAfter.Unix())
	}

	// A new certificate before 2/3 of the validity (and some slack for
	// the poll and a slow machine), and the app is told.
	life := first.NotAfter.Sub(first.NotBefore)
	due := first.NotBefore.Add(life * 2 / 3).Add(3 * time.Second)
	told := reloads.Load()
	waitFor(t, time.Until(due), func() bool { return fileSerial(a) != "" && fileSerial(a) != vaulttest.SerialOf(first) })
	second := checkCertFiles(t, dir)
	keys = append(keys, a.file("web-tls/key.pem"))
	waitFor(t, 5*time.Second, func() bool { return reloads.Load() > told })
	if got := a.metric(t, "secret_certificate_expiry_timestamp_seconds", `secret="web-tls"`); got != float64(second.NotAfter.Unix()) {
		t.Errorf("expiry gauge %v after the reissue, want %d", got, second.NotAfter.Unix())
	}

	// The role stops allowing the name: the certificate is kept, status
	// says why, until it expires; then its files go.
	root := bed.Root(t)
	if _, err := root.Logical().WriteWithContext(vaulttest.Context(t, 10*time.Second), role, map[string]any{"allowed_domains": "other.test", "allow_subdomains": true, "max_ttl": "1h"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Until(second.NotAfter), func() bool { return !a.status(t)["web-tls"].OK })
	st := a.status(t)["web-tls"]
	if !strings.Contains(st.LastError, "web.example.test not allowed") || st.Result != "denied" {
		t.Errorf("status after the refusal: %+v; want result denied and Vault's reason", st)
	}
	if serial := vaulttest.SerialOf(checkCertFiles(t, dir)); serial != vaulttest.SerialOf(second) {
		t.Errorf("the held certificate changed to %s during the refusal", serial)
	}
	waitFor(t, time.Until(second.NotAfter)+5*time.Second, func() bool { return a.file("web-tls/cert.pem") == "" })
	if now := time.Now(); now.Before(second.NotAfter) {
		t.Errorf("the certificate was removed at %s, before it expired at %s", now, second.NotAfter)
	}
	if a.file("web-tls/key.pem") != "" || a.file("web-tls/ca.pem") != "" {
		t.Error("the key or the chain stayed after the certificate expired")
	}
	if got := a.metric(t, "secret_rotation_status", `secret="web-tls"`); got != 0 {
		t.Errorf("secret_rotation_status %v with the certificate expired, want 0", got)
	}
	if got := a.metric(t, "secret_certificate_expiry_timestamp_seconds", `secret="web-tls"`); got != -1 {
		t.Errorf("expiry gauge %v with no certificate on the volume, want no series", got)
	}

	// The role allows it again: retried with backoff, a new one written.
	if _, err := root.Logical().WriteWithContext(vaulttest.Context(t, 10*time.Second), role, allow); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool { return a.file("web-tls/cert.pem") != "" })
	checkCertFiles(t, dir)
	keys = append(keys, a.file("web-tls/key.pem"))
	if body := get(t, "http://"+adminAddr+"/v1/status"); strings.Contains(body, "PRIVATE KEY") {
		t.Errorf("status shows a private key: %s", body)
	}
}

// fileSerial is the serial number of the certificate in web-tls/cert.pem,
// "" when there is none.
func fileSerial(a *vaultAgent) string {
	block, _ := pem.Decode([]byte(a.file("web-tls/cert.pem")))
	if block == nil {
		return ""
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return ""
	}
	return vaulttest.SerialOf(c)
}

// freePortAnswers reports whether something listens at addr.
func freePortAnswers(addr string) bool {
	resp, err := http.Get("http://" + addr + "/v1/status")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// checkCertFiles reads web-tls/{cert,key,ca}.pem from dir: the chain
// verifies with the real openssl (skipped, saying so, only where it is
// not installed) and the key is the certificate's. It returns the
// certificate.
func checkCertFiles(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	read := func(f string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "web-tls", f))
		if err != nil {
			t.Fatalf("web-tls/%s: %v", f, err)
		}
		return b
	}
	certPEM, keyPEM := read("cert.pem"), read("key.pem")
	read("ca.pem")
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("key.pem is not cert.pem's key: %v", err)
	}
	vaulttest.OpenSSLVerify(t, filepath.Join(dir, "web-tls", "ca.pem"), filepath.Join(dir, "web-tls", "cert.pem"))
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("cert.pem holds no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("cert.pem: %v", err)
	}
	return c
}

// keyLine is a line from the middle of a PEM key: what any leak of it
// would show.
func keyLine(keyPEM string) string {
	lines := strings.Split(strings.TrimSpace(keyPEM), "\n")
	if len(lines) < 3 {
		return keyPEM
	}
	return lines[1]
}
