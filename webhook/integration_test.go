package webhook

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/webhook/certs"
)

// fileModeBundle issues a CA and serving certificate for 127.0.0.1 and
// writes the pair as plain files, as a mounted cert-manager Secret provides.
func fileModeBundle(t *testing.T, dir string, b certs.Bundle, at time.Time, hosts []string) certs.Bundle {
	t.Helper()
	res, err := certs.Reconcile(b, at, certs.Policy{Hosts: hosts}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	// key first, then certificate: a reader may briefly see a mismatched
	// pair and must keep serving the old one until both match.
	for _, f := range []struct {
		name string
		data []byte
	}{{certs.KeyKey, res.Bundle.Key}, {certs.KeyCert, res.Bundle.Cert}} {
		tmp := filepath.Join(dir, "."+f.name+".tmp")
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			t.Fatal(err)
		}
	}
	return res.Bundle
}

func TestEnvtestFileMode(t *testing.T) {
	rc, cs := apiServer(t)
	const ns = "file-mode"
	createNamespace(t, cs, ns)
	dir := t.TempDir()
	bundle := fileModeBundle(t, dir, certs.Bundle{}, time.Now(), []string{"127.0.0.1"})

	w := startWebhook(t, Config{
		TLSMode:           TLSModeFile,
		CertDir:           dir,
		CertWatchInterval: time.Second,
		Injector:          testInjectorOptions(),
		RestConfig:        rc,
	})
	registerWebhook(t, cs, "file-mode", w.url(), ns, bundle.CACerts)
	waitForAdmission(t, cs, ns)

	t.Run("opted-in pod comes back injected", func(t *testing.T) {
		got, err := createPod(cs, ns, testPod(nil), false)
		if err != nil {
			t.Fatal(err)
		}
		if !isInjected(got) {
			t.Fatalf("pod %s has no agent: init containers %v", got.Name, got.Spec.InitContainers)
		}
		// auto mode asked the API server (1.37): native sidecar
		if rp := got.Spec.InitContainers[len(got.Spec.InitContainers)-1].RestartPolicy; rp == nil || *rp != corev1.ContainerRestartPolicyAlways {
			t.Errorf("sidecar is not native: restartPolicy %v", rp)
		}
	})

	t.Run("pod without the annotation is untouched and never reaches the webhook", func(t *testing.T) {
		before := admissions(t, w.registry)
		pod := testPod(func(p *corev1.Pod) { p.Annotations = map[string]string{"team": "ledger"} })
		got, err := createPod(cs, ns, pod, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Spec.InitContainers) != 0 || len(got.Spec.Volumes) != 0 || len(got.Spec.Containers) != 1 {
			t.Errorf("plain pod was changed: %+v", got.Spec)
		}
		if after := admissions(t, w.registry); after != before {
			t.Errorf("webhook was called %v times for a pod that did not opt in", after-before)
		}
	})

	t.Run("invalid annotation fails the create naming it", func(t *testing.T) {
		pod := testPod(func(p *corev1.Pod) { p.Annotations[injector.AnnotationMode] = "sometimes" })
		_, err := createPod(cs, ns, pod, false)
		if err == nil || !strings.Contains(err.Error(), "annotation "+injector.AnnotationMode) {
			t.Fatalf("create error = %v, want one naming %s", err, injector.AnnotationMode)
		}
		t.Logf("denial as kubectl shows it: %v", err)
	})

	t.Run("replaced certificate is served", func(t *testing.T) {
		old := servedCertificate(t, w.cfg.Port)
		// same CA (the caBundle stays), new serving certificate
		renewed := bundle
		renewed.Cert, renewed.Key = nil, nil
		fileModeBundle(t, dir, renewed, time.Now(), []string{"127.0.0.1"})
		eventually(t, 10*time.Second, "new certificate served", func() error {
			if servedCertificate(t, w.cfg.Port).Equal(old) {
				return errors.New("still the old certificate")
			}
			return nil
		})
		if _, err := createPod(cs, ns, testPod(nil), false); err != nil {
			t.Fatalf("create through the reloaded certificate: %v", err)
		}
	})

	t.Run("webhook down: opted-in pod refused, plain pod created", func(t *testing.T) {
		w.stop()
		_, err := createPod(cs, ns, testPod(nil), false)
		if err == nil || !strings.Contains(err.Error(), WebhookName) {
			t.Errorf("opted-in pod with the webhook down: err = %v, want a failure calling %s", err, WebhookName)
		}
		if _, err := createPod(cs, ns, testPod(func(p *corev1.Pod) { p.Annotations = nil }), false); err != nil {
			t.Errorf("plain pod with the webhook down: %v", err)
		}
	})
}

// shortPolicy renews the serving certificate every ~3s and rotates the CA
// every ~6s, in real time: the API server checks real clocks.
func shortPolicy() certs.Policy {
	return certs.Policy{
		ServingValidity:    time.Hour,
		ServingRenewBefore: time.Hour - 3*time.Second,
		CAValidity:         3 * time.Hour,
		CARotateBefore:     3*time.Hour - 6*time.Second,
		PropagationDelay:   2 * time.Second,
	}
}

func TestEnvtestSelfManaged(t *testing.T) {
	rc, cs := apiServer(t)
	const ns, system, name = "self-managed", "si-system", "self-managed"
	createNamespace(t, cs, ns)
	createNamespace(t, cs, system)
	base := Config{
		TLSMode:           TLSModeSelfManaged,
		Namespace:         system,
		ServiceName:       "secret-injector",
		ExtraHosts:        []string{"127.0.0.1"},
		WebhookConfigName: name,
		CertPolicy:        shortPolicy(),
		CertCheckInterval: 500 * time.Millisecond,
		CertWatchInterval: time.Second,
		Injector:          testInjectorOptions(),
		NativeSidecars:    NativeSidecarsFalse,
		RestConfig:        rc,
	}
	// Registered with no caBundle at all: the webhook must supply it. The
	// port is chosen first so the URL is known.
	port := freePort(t)
	registerWebhook(t, cs, name, fmt.Sprintf("https://127.0.0.1:%d%s", port, Path), ns, nil)

	cfg := base
	cfg.CertDir = t.TempDir()
	cfg.Port = port
	w := startWebhook(t, cfg)

	secret, err := cs.CoreV1().Secrets(system).Get(context.Background(), "secret-injector-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("tls secret: %v", err)
	}
	for _, k := range []string{"ca.crt", "ca.key", "tls.crt", "tls.key"} {
		if len(secret.Data[k]) == 0 {
			t.Errorf("secret lacks %s", k)
		}
	}
	if got := webhookCABundle(t, cs, name); len(got) == 0 {
		t.Fatal("caBundle was not patched")
	}
	waitForAdmission(t, cs, ns)
	got, err := createPod(cs, ns, testPod(nil), false)
	if err != nil || !isInjected(got) {
		t.Fatalf("create through self-managed TLS: err=%v injected=%v", err, got != nil && isInjected(got))
	}
	if rp := got.Spec.InitContainers[len(got.Spec.InitContainers)-1].RestartPolicy; rp != nil {
		t.Errorf("native sidecars forced off, but the sidecar has restartPolicy %v", *rp)
	}

	t.Run("serving certificate rotation", func(t *testing.T) {
		first := servedCertificate(t, w.cfg.Port)
		eventually(t, 15*time.Second, "served certificate renewed", func() error {
			if servedCertificate(t, w.cfg.Port).Equal(first) {
				return errors.New("still the first certificate")
			}
			return nil
		})
		if _, err := createPod(cs, ns, testPod(nil), false); err != nil {
			t.Fatalf("create after renewal: %v", err)
		}
	})

	t.Run("ca rotation overlaps", func(t *testing.T) {
		firstCA := firstCertificate(t, webhookCABundle(t, cs, name))
		eventually(t, 20*time.Second, "served certificate signed by a newer CA", func() error {
			newest := firstCertificate(t, webhookCABundle(t, cs, name))
			if newest.Equal(firstCA) {
				return errors.New("no new CA yet")
			}
			if err := servedCertificate(t, w.cfg.Port).CheckSignatureFrom(newest); err != nil {
				return fmt.Errorf("served certificate not yet from the new CA: %w", err)
			}
			return nil
		})
		if n := countCertificates(webhookCABundle(t, cs, name)); n < 2 {
			t.Errorf("caBundle holds %d CAs during the overlap, want the old one too", n)
		}
		if _, err := createPod(cs, ns, testPod(nil), false); err != nil {
			t.Fatalf("create after CA rotation: %v", err)
		}
	})

	t.Run("a second replica serves what the secret holds", func(t *testing.T) {
		cfg := base
		cfg.CertDir = t.TempDir()
		w2 := startWebhook(t, cfg)
		eventually(t, 10*time.Second, "replicas serve the same certificate", func() error {
			a, b := servedCertificate(t, w.cfg.Port), servedCertificate(t, w2.cfg.Port)
			if !a.Equal(b) {
				return fmt.Errorf("replica 1 serves serial %s, replica 2 serial %s", a.SerialNumber, b.SerialNumber)
			}
			return nil
		})
		for range 5 {
			if _, err := createPod(cs, ns, testPod(nil), true); err != nil {
				t.Fatalf("create with two replicas rotating: %v", err)
			}
			time.Sleep(time.Second)
		}
		w2.stop()
	})
}

func firstCertificate(t *testing.T, bundle []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(bundle)
	if block == nil {
		t.Fatal("caBundle holds no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func countCertificates(bundle []byte) int {
	n := 0
	for block, rest := pem.Decode(bundle); block != nil; block, rest = pem.Decode(rest) {
		n++
	}
	return n
}
