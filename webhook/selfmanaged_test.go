package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/tradepulse/secret-injector/webhook/certs"
)

var clock0 = time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)

func newTestSelfManaged(t *testing.T, objs ...runtime.Object) (*selfManaged, *fake.Clientset, *time.Time) {
	t.Helper()
	now := clock0
	cs := fake.NewClientset(objs...)
	return &selfManaged{
		client:     cs,
		namespace:  "si",
		secretName: "secret-injector-tls",
		configName: "secret-injector",
		certDir:    t.TempDir(),
		policy:     certs.Policy{Hosts: []string{"secret-injector.si.svc"}}.WithDefaults(),
		interval:   time.Minute,
		now:        func() time.Time { return now },
		log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, cs, &now
}

func testConfiguration() *admissionregistrationv1.MutatingWebhookConfiguration {
	return MutatingWebhookConfiguration(ConfigurationOptions{Name: "secret-injector", Service: &ServiceRef{Namespace: "si", Name: "secret-injector"}})
}

func storedSecret(t *testing.T, m *selfManaged, cs *fake.Clientset) *corev1.Secret {
	t.Helper()
	s, err := cs.CoreV1().Secrets(m.namespace).Get(context.Background(), m.secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSelfManagedSync(t *testing.T) {
	m, cs, now := newTestSelfManaged(t, testConfiguration())
	res, err := m.sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sec := storedSecret(t, m, cs)
	if sec.Type != corev1.SecretTypeTLS || sec.Labels[managedByLabel] != "secret-injector" {
		t.Errorf("secret type %q labels %v", sec.Type, sec.Labels)
	}
	if !certs.FromSecretData(sec.Data).Equal(res.bundle) {
		t.Error("secret does not hold the bundle being served")
	}
	mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), m.configName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mwc.Webhooks[0].ClientConfig.CABundle, res.bundle.CACerts) {
		t.Error("caBundle not patched")
	}
	for name, want := range map[string][]byte{"tls.crt": res.bundle.Cert, "tls.key": res.bundle.Key, "ca.crt": res.bundle.CACerts} {
		got, err := os.ReadFile(filepath.Join(m.certDir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s in the cert dir: err=%v, matches=%v", name, err, bytes.Equal(got, want))
		}
	}
	if want := clock0.Add(60 * 24 * time.Hour); !res.nextCheck.Equal(want) {
		t.Errorf("nextCheck = %s, want the renewal point %s", res.nextCheck, want)
	}

	// A second round a day later changes nothing.
	*now = now.Add(24 * time.Hour)
	cs.ClearActions()
	if _, err := m.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("idle round did %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}

	// At the renewal point the secret is updated and the files follow.
	*now = res.nextCheck
	renewed, err := m.sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(renewed.bundle.Cert, res.bundle.Cert) || !bytes.Equal(renewed.bundle.CACerts, res.bundle.CACerts) {
		t.Error("renewal should replace the serving certificate and keep the CA")
	}
	got, _ := os.ReadFile(filepath.Join(m.certDir, "tls.crt"))
	if !bytes.Equal(got, renewed.bundle.Cert) {
		t.Error("renewed certificate not written")
	}
}

func TestSelfManagedMissingConfiguration(t *testing.T) {
	m, _, _ := newTestSelfManaged(t)
	res, err := m.sync(context.Background())
	if !errors.Is(err, ErrConfigurationNotFound) {
		t.Fatalf("err = %v, want ErrConfigurationNotFound", err)
	}
	if res.nextCheck.IsZero() {
		t.Error("a missing configuration must not stop serving")
	}
	if _, err := os.Stat(filepath.Join(m.certDir, "tls.crt")); err != nil {
		t.Errorf("certificate not written: %v", err)
	}
}

// TestSelfManagedLostRace makes another replica store its bundle between our
// read and our write: our update conflicts, and we serve the winner's.
func TestSelfManagedLostRace(t *testing.T) {
	m, cs, _ := newTestSelfManaged(t, testConfiguration())
	winner, err := certs.Reconcile(certs.Bundle{}, clock0, m.policy)
	if err != nil {
		t.Fatal(err)
	}
	raced := false
	cs.PrependReactor("create", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if raced {
			return false, nil, nil
		}
		raced = true
		// the other replica's create lands first
		other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: m.secretName, Namespace: m.namespace}, Type: corev1.SecretTypeTLS, Data: winner.Bundle.SecretData()}
		if err := cs.Tracker().Create(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, other, m.namespace); err != nil {
			t.Fatal(err)
		}
		return true, nil, apierrors.NewAlreadyExists(schema.GroupResource{Resource: "secrets"}, m.secretName)
	})
	res, err := m.sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !raced || !res.bundle.Equal(winner.Bundle) {
		t.Fatal("the losing replica does not serve the winner's bundle")
	}
	if !certs.FromSecretData(storedSecret(t, m, cs).Data).Equal(winner.Bundle) {
		t.Error("the winner's secret was overwritten")
	}
}

// TestSelfManagedLoopRenews runs the loop on a fake clock: quiet until the
// renewal point, renewed soon after it, stopped by its context.
func TestSelfManagedLoopRenews(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, cs, _ := newTestSelfManaged(t, testConfiguration())
		m.now = time.Now
		m.interval = 24 * time.Hour
		first, err := m.sync(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- m.Start(ctx, first.nextCheck) }()

		served := func() []byte {
			b, err := os.ReadFile(filepath.Join(m.certDir, "tls.crt"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		time.Sleep(59 * 24 * time.Hour)
		synctest.Wait()
		if !bytes.Equal(served(), first.bundle.Cert) {
			t.Fatal("renewed before the renewal point")
		}
		time.Sleep(2 * 24 * time.Hour)
		synctest.Wait()
		if bytes.Equal(served(), first.bundle.Cert) {
			t.Fatal("not renewed a day after the renewal point")
		}
		if !bytes.Equal(served(), certs.FromSecretData(storedSecret(t, m, cs).Data).Cert) {
			t.Error("served certificate differs from the secret")
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start returned %v", err)
		}
	})
}
