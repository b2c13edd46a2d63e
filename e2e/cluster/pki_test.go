package cluster

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/agent/backend"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/ctl"
	"github.com/tradepulse/secret-injector/e2e/clusterbed"
)

// The certificate the PKI test's pod asks for.
const (
	certSecret = "engine-tls"
	certApp    = "engine"
	certCN     = "engine.trading.svc"
	// certTTL is short enough that the agent issues the next certificate
	// within the test (at 2/3 of the validity, which Vault backdates by
	// the role's not_before_duration, 30 s by default: about 30 s after
	// the first), long enough that a reading of the volume, the status
	// and the metrics is not overtaken by a new certificate. The
	// webhook's minimum, 1s, would have the agent issue about every
	// second (its floor) certificates that expire before a check could
	// read them.
	certTTL = 60 * time.Second
)

var (
	certAltNames = []string{"api.trading.svc", "*.engine.trading.svc"}
	certIPSANs   = []string{"127.0.0.1", "fd00::7"}
)

// Certificates from Vault's PKI engine on the real kubelet: a pod with the
// cert-* annotations gets <name>/cert.pem, key.pem and ca.pem, owned by
// the app and mode 0400 (signal reload: the agent runs as the app). What
// an operator checks, the test checks: cert.pem is the very certificate
// Vault issued (its bytes, by hash, against the engine's own record of
// it), with the names asked for; ca.pem is the engine's root, and the
// certificate verifies against it (crypto/x509 and openssl); `status`
// reports its serial, expiry and renewal time (2/3 of its validity);
// secret_certificate_expiry_timestamp_seconds is its NotAfter. At the
// renewal time a new certificate with a new key replaces it, the gauge
// follows, and the app gets its SIGHUP without a restart. No private key
// reaches a log, an Event, a metric or the status answer.
//
// The test app reports files by hash, never their content, so key.pem is
// checked for presence, owner, mode and renewal only; that the key is the
// certificate's is checked by the agent before it writes (and by its
// tests against the same Vault).
func TestVaultPKICertificate(t *testing.T) {
	s := need(t)
	if s.Bed.Vault == nil {
		t.Skip("no Vault bed")
	}
	ctx := testContext(t, 5*time.Minute)
	ns := s.newNamespace(t, "real-pki")
	// Any PEM private key in what the namespace exposes is a leak.
	s.watchForLeaks(t, "PRIVATE KEY")
	pki := s.NewVaultPKI(t, ns, map[string]any{
		"allowed_domains": "trading.svc", "allow_subdomains": true, "max_ttl": "1h",
	})
	ann := map[string]string{
		"vault-role":                     pki.AuthRole,
		"secret-" + certSecret:           pki.Ref,
		"cert-common-name-" + certSecret: certCN,
		"cert-alt-names-" + certSecret:   strings.Join(certAltNames, ","),
		"cert-ip-sans-" + certSecret:     strings.Join(certIPSANs, ","),
		"cert-ttl-" + certSecret:         fmt.Sprintf("%ds", int(certTTL/time.Second)),
		"reload":                         "signal:SIGHUP:" + clusterbed.AppName,
		"refresh-interval":               "5s", // caps the retry backoff only: a certificate is not polled
	}
	pods := s.deploy(t, ctx, clusterbed.Workload{Name: certApp, Namespace: ns, Backend: s.Bed.Backends["vault"], Annotations: ann}, 3*time.Minute)
	p := pods[0]

	first := s.currentCert(t, ctx, p, pki)
	checkCert(t, "first certificate", first, pki)
	t.Logf("first certificate: serial %s, valid until %s, renewal due %s",
		first.status.Version, first.leaf.NotAfter.UTC().Format(time.RFC3339), first.status.Certificate.RenewAt.UTC().Format(time.RFC3339))
	t.Run("openssl", func(t *testing.T) {
		// The files as the pod has them (cert.pem and ca.pem are, by
		// hash, these texts), verified by the real openssl.
		dir := t.TempDir()
		ca, cert := filepath.Join(dir, backend.CAFile), filepath.Join(dir, backend.CertFile)
		if err := os.WriteFile(ca, []byte(pemFile(pki.RootPEM)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cert, []byte(pemFile(first.pem)), 0o600); err != nil {
			t.Fatal(err)
		}
		vaulttest.OpenSSLVerify(t, ca, cert)
	})
	if t.Failed() {
		return
	}

	// The next certificate, at the first's renewal time (with slack for
	// the poll and the CLI's port-forward).
	time.Sleep(3 * time.Second) // past the agent's debounce (2 s) of a reload it may still owe
	hups := sighups(t, ctx, p)
	renewAt := first.status.Certificate.RenewAt
	if err := poll(ctx, time.Until(renewAt)+20*time.Second, func() (bool, error) {
		files, err := clusterbed.AppFiles(ctx, p)
		h := files[certSecret+"/"+backend.CertFile].SHA256
		return err == nil && h != "" && h != first.hash(backend.CertFile), nil
	}); err != nil {
		t.Fatalf("no new certificate by 20 s after the first's renewal time %s (it expires at %s): %v",
			renewAt.UTC().Format(time.RFC3339), first.leaf.NotAfter.UTC().Format(time.RFC3339), err)
	}
	second := s.currentCert(t, ctx, p, pki)
	checkCert(t, "renewed certificate", second, pki)
	t.Logf("renewed certificate: serial %s, valid until %s", second.status.Version, second.leaf.NotAfter.UTC().Format(time.RFC3339))
	if second.status.Version == first.status.Version {
		t.Errorf("the renewed certificate has the first's serial %s", first.status.Version)
	}
	if second.hash(backend.KeyFile) == first.hash(backend.KeyFile) {
		t.Errorf("the renewed certificate came with the first's key.pem: a new certificate must have a new key")
	}
	// Vault sets NotAfter to the issue time plus the TTL: the second was
	// issued at its renewal time, not at a refresh interval (5 s) after
	// the first.
	if issued := second.leaf.NotAfter.Add(-certTTL); issued.Before(renewAt.Add(-2 * time.Second)) {
		t.Errorf("the renewed certificate was issued at %s, before the first's renewal time %s",
			issued.UTC().Format(time.RFC3339), renewAt.UTC().Format(time.RFC3339))
	}
	if err := poll(ctx, 15*time.Second, func() (bool, error) { return sighups(t, ctx, p) > hups, nil }); err != nil {
		t.Errorf("the app got no SIGHUP for the renewed certificate (still %d)", hups)
	}
	cur, err := s.Client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := clusterbed.ContainerStatus(*cur, clusterbed.AppName); st == nil || st.RestartCount != 0 {
		t.Errorf("the app restarted: %+v", st)
	}
}

// certView is one consistent reading of the pod's certificate: its files
// as the app sees them, the certificate they hold (as Vault recorded it),
// the agent's status and its expiry gauge.
type certView struct {
	// files are the secret's files by base name (cert.pem, …).
	files map[string]clusterbed.AppFile
	// pem is the certificate as the PKI engine stored it; cert.pem holds
	// exactly this text (trimmed, one newline), by hash.
	pem    string
	leaf   *x509.Certificate
	status admin.SecretStatus
	// expiry is secret_certificate_expiry_timestamp_seconds; hasExpiry is
	// false when the scrape has no such series.
	expiry    float64
	hasExpiry bool
}

func (v certView) hash(file string) string { return v.files[file].SHA256 }

// pemFile is a PEM text as the agent writes it into a file.
func pemFile(s string) string { return strings.TrimSpace(s) + "\n" }

// currentCert reads the pod's certificate: the app's files, `secret-
// injector status -o json` (over a real port-forward) and the agent's
// metrics, between two readings of the files that must agree (else a
// renewal overtook it, and it reads again). The serial status reports
// names the certificate Vault stored; cert.pem must be it.
func (s *suite) currentCert(t *testing.T, ctx context.Context, p corev1.Pod, pki *clusterbed.VaultPKI) certView {
	t.Helper()
	var v certView
	var why string
	err := poll(ctx, 45*time.Second, func() (bool, error) {
		v = certView{files: map[string]clusterbed.AppFile{}}
		before, err := clusterbed.AppFiles(ctx, p)
		if err != nil {
			why = "the app's files: " + err.Error()
			return false, nil
		}
		var rep ctl.Report
		if err := s.CLIJSON(ctx, &rep, "status", "-n", p.Namespace, "-l", "app="+certApp, "-o", "json"); err != nil {
			why = err.Error()
			return false, nil
		}
		st, ok := certStatus(rep, p.Name)
		if !ok {
			why = fmt.Sprintf("status of pod %s reports no secret %s: %+v", p.Name, certSecret, rep)
			return false, nil
		}
		v.status = st
		scrape, err := clusterbed.AgentMetrics(ctx, p)
		if err != nil {
			why = "the agent's metrics: " + err.Error()
			return false, nil
		}
		if v.expiry, v.hasExpiry, err = clusterbed.MetricValue(scrape, "secret_certificate_expiry_timestamp_seconds",
			map[string]string{"secret": certSecret, "backend": "vault"}); err != nil {
			return false, err
		}
		after, err := clusterbed.AppFiles(ctx, p)
		if err != nil {
			why = "the app's files: " + err.Error()
			return false, nil
		}
		prefix := certSecret + "/"
		for name, f := range after {
			if base, ok := strings.CutPrefix(name, prefix); ok {
				v.files[base] = f
			}
		}
		h := v.hash(backend.CertFile)
		if h == "" || before[prefix+backend.CertFile].SHA256 != h {
			why = "cert.pem is missing, or changed while it was being read"
			return false, nil
		}
		if !st.OK || st.Version == "" {
			why = fmt.Sprintf("status: %+v", st)
			return false, nil
		}
		if v.pem, err = pki.IssuedPEM(ctx, s.Cluster, st.Version); err != nil {
			why = err.Error()
			return false, nil
		}
		if got := clusterbed.SHA256(pemFile(v.pem)); got != h {
			why = fmt.Sprintf("cert.pem (sha256 %s) is not certificate %s, the serial status reports, as Vault stored it (sha256 %s)", h, st.Version, got)
			return false, nil
		}
		block, _ := pem.Decode([]byte(v.pem))
		if block == nil {
			return false, fmt.Errorf("the certificate %s Vault stored is not PEM", st.Version)
		}
		if v.leaf, err = x509.ParseCertificate(block.Bytes); err != nil {
			return false, fmt.Errorf("the certificate %s Vault stored: %w", st.Version, err)
		}
		return true, nil
	})
	if err != nil {
		if serials, lerr := pki.IssuedSerials(ctx, s.Cluster); lerr == nil {
			t.Logf("certificates %s holds: %v", pki.Mount, serials)
		}
		t.Fatalf("no consistent reading of the pod's certificate: %s (%v)", why, err)
	}
	return v
}

// certStatus is the certificate's state in pod's status report.
func certStatus(rep ctl.Report, pod string) (admin.SecretStatus, bool) {
	for _, pr := range rep.Pods {
		if pr.Pod != pod || pr.Status == nil {
			continue
		}
		for _, st := range pr.Status.Secrets {
			if st.Name == certSecret {
				return st, true
			}
		}
	}
	return admin.SecretStatus{}, false
}

// checkCert asserts what an operator would of the certificate v: the
// files, the names, the chain, the status and the gauge.
func checkCert(t *testing.T, what string, v certView, pki *clusterbed.VaultPKI) {
	t.Helper()
	names := slices.Sorted(maps.Keys(v.files))
	if want := []string{backend.CAFile, backend.CertFile, backend.KeyFile}; !slices.Equal(names, want) {
		t.Errorf("%s: the app sees %s/%v, want %v", what, certSecret, names, want)
	}
	for name, f := range v.files {
		if f.Error != "" {
			t.Errorf("%s: the app cannot read %s/%s: %s", what, certSecret, name, f.Error)
		}
		// Signal reload: the agent runs as the app, and the default mode
		// is then 0400 (ANNOTATIONS.md, who owns the files).
		if f.Mode != "0400" || f.UID != clusterbed.AppUID || f.GID != clusterbed.AppUID {
			t.Errorf("%s: %s/%s has mode %s, owner %d:%d; want 0400, %d:%d", what, certSecret, name, f.Mode, f.UID, f.GID, clusterbed.AppUID, clusterbed.AppUID)
		}
	}
	if got, want := v.hash(backend.CAFile), clusterbed.SHA256(pemFile(pki.RootPEM)); got != want {
		t.Errorf("%s: ca.pem (sha256 %s) is not the PKI engine's root CA (sha256 %s)", what, got, want)
	}
	if k := v.hash(backend.KeyFile); k == "" || k == v.hash(backend.CertFile) || k == v.hash(backend.CAFile) {
		t.Errorf("%s: key.pem (sha256 %q) is empty or a copy of another file", what, k)
	}

	leaf := v.leaf
	if leaf.Subject.CommonName != certCN {
		t.Errorf("%s: CN %q, want %q", what, leaf.Subject.CommonName, certCN)
	}
	// Vault adds the common name to the DNS SANs.
	if got, want := slices.Sorted(slices.Values(leaf.DNSNames)), slices.Sorted(slices.Values(append([]string{certCN}, certAltNames...))); !slices.Equal(got, want) {
		t.Errorf("%s: DNS SANs %v, want %v", what, got, want)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if want := slices.Sorted(slices.Values(certIPSANs)); !slices.Equal(slices.Sorted(slices.Values(ips)), want) {
		t.Errorf("%s: IP SANs %v, want %v", what, ips, want)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(pki.RootPEM)) {
		t.Fatalf("the PKI engine's root CA does not parse")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: certCN, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("%s: does not verify against the PKI engine's root CA: %v", what, err)
	}
	// Issued before now, so it cannot outlive the asked-for TTL (the
	// role's max_ttl is an hour).
	if left := time.Until(leaf.NotAfter); left <= 0 || left > certTTL+5*time.Second {
		t.Errorf("%s: expires in %s, want within the annotation's cert-ttl %s", what, left.Round(time.Second), certTTL)
	}

	st := v.status
	if st.Version != vaulttest.SerialOf(leaf) {
		t.Errorf("%s: status reports serial %s, the certificate's is %s", what, st.Version, vaulttest.SerialOf(leaf))
	}
	if c := st.Certificate; c == nil {
		t.Errorf("%s: status reports no certificate validity: %+v", what, st)
	} else {
		if !c.NotAfter.Equal(leaf.NotAfter) || !c.NotBefore.Equal(leaf.NotBefore) {
			t.Errorf("%s: status reports validity %s – %s, the certificate's is %s – %s", what, c.NotBefore, c.NotAfter, leaf.NotBefore, leaf.NotAfter)
		}
		// 2/3 into the validity, less at most a tenth of it (jitter).
		life := leaf.NotAfter.Sub(leaf.NotBefore)
		latest := leaf.NotBefore.Add(life * 2 / 3)
		if earliest := latest.Add(-life/10 - time.Second); c.RenewAt.Before(earliest) || c.RenewAt.After(latest.Add(time.Second)) {
			t.Errorf("%s: status says the next certificate comes at %s, want 2/3 into its validity (%s, at most %s earlier)",
				what, c.RenewAt.UTC().Format(time.RFC3339), latest.UTC().Format(time.RFC3339), life/10)
		}
	}
	if !v.hasExpiry {
		t.Errorf("%s: the agent's metrics have no secret_certificate_expiry_timestamp_seconds{secret=%q}", what, certSecret)
	} else if want := float64(leaf.NotAfter.Unix()); v.expiry != want {
		t.Errorf("%s: secret_certificate_expiry_timestamp_seconds is %v, want the certificate's NotAfter %v", what, v.expiry, want)
	}
}
