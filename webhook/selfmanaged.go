package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tradepulse/secret-injector/webhook/certs"
)

// managedByLabel marks the Secret as ours, for operators and the chart.
const managedByLabel = "app.kubernetes.io/managed-by"

// ErrConfigurationNotFound means the MutatingWebhookConfiguration to patch
// does not exist (yet): the chart creates it, possibly after the webhook.
var ErrConfigurationNotFound = errors.New("mutating webhook configuration not found")

// selfManaged keeps the serving certificate in a Secret that every replica
// shares. Any replica may renew: updates carry the Secret's resourceVersion,
// so when two race, one wins and the other reads the winner's bundle. Each
// replica then patches the caBundle if it differs and serves what the Secret
// holds.
type selfManaged struct {
	client     kubernetes.Interface
	namespace  string
	secretName string
	configName string
	certDir    string
	policy     certs.Policy
	interval   time.Duration
	now        func() time.Time
	log        *slog.Logger
}

// syncResult is what one round saw.
type syncResult struct {
	bundle    certs.Bundle
	nextCheck time.Time
}

// sync runs one round: reconcile the Secret, publish its CA bundle, then
// serve its certificate. The caBundle goes out before the files change, so
// the API server trusts a new CA before anything it signed is served. A
// failed publish does not stop the files being written: a webhook that
// cannot patch its configuration should still serve.
func (m *selfManaged) sync(ctx context.Context) (syncResult, error) {
	bundle, next, err := m.syncSecret(ctx)
	if err != nil {
		return syncResult{}, err
	}
	pubErr := m.publish(ctx, bundle)
	changed, err := writeCertDir(m.certDir, bundle)
	if err != nil {
		return syncResult{}, errors.Join(pubErr, err)
	}
	if changed {
		m.log.Info("serving certificate written", "dir", m.certDir, "bundle", certs.Describe(bundle))
	}
	return syncResult{bundle: bundle, nextCheck: next}, pubErr
}

// syncSecret reads the Secret, reconciles it, and stores the result if it
// changed. A lost race re-reads and takes what the winner stored.
func (m *selfManaged) syncSecret(ctx context.Context) (certs.Bundle, time.Time, error) {
	secrets := m.client.CoreV1().Secrets(m.namespace)
	for range 5 {
		sec, err := secrets.Get(ctx, m.secretName, metav1.GetOptions{})
		exists := err == nil
		if err != nil && !apierrors.IsNotFound(err) {
			return certs.Bundle{}, time.Time{}, fmt.Errorf("read secret %s/%s: %w", m.namespace, m.secretName, err)
		}
		var stored certs.Bundle
		if exists {
			stored = certs.FromSecretData(sec.Data)
		}
		res, err := certs.Reconcile(stored, m.now(), m.policy)
		if err != nil {
			return certs.Bundle{}, time.Time{}, fmt.Errorf("secret %s/%s: %w", m.namespace, m.secretName, err)
		}
		if !res.Changed {
			return stored, res.NextCheck, nil
		}
		if exists {
			sec = sec.DeepCopy()
			sec.Data = res.Bundle.SecretData()
			_, err = secrets.Update(ctx, sec, metav1.UpdateOptions{})
		} else {
			_, err = secrets.Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{
					Name:      m.secretName,
					Namespace: m.namespace,
					Labels:    map[string]string{managedByLabel: "secret-injector"},
				},
				Type: corev1.SecretTypeTLS,
				Data: res.Bundle.SecretData(),
			}, metav1.CreateOptions{})
		}
		switch {
		case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
			m.log.Debug("another replica updated the tls secret first; re-reading", "secret", m.secretName)
			continue
		case err != nil:
			return certs.Bundle{}, time.Time{}, fmt.Errorf("store secret %s/%s: %w", m.namespace, m.secretName, err)
		}
		m.log.Info("tls secret updated", "secret", m.secretName, "reasons", res.Reasons, "bundle", certs.Describe(res.Bundle))
		return res.Bundle, res.NextCheck, nil
	}
	return certs.Bundle{}, time.Time{}, fmt.Errorf("secret %s/%s kept changing under us", m.namespace, m.secretName)
}

// publish sets the caBundle of every webhook in the configuration to the
// Secret's CA bundle. The Secret was read just before, so a replica with an
// older view can only overwrite a newer bundle within that instant, and the
// next round repairs it long before a new CA starts signing.
func (m *selfManaged) publish(ctx context.Context, b certs.Bundle) error {
	api := m.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	cfg, err := api.Get(ctx, m.configName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: %s", ErrConfigurationNotFound, m.configName)
	}
	if err != nil {
		return fmt.Errorf("read mutating webhook configuration %s: %w", m.configName, err)
	}
	stale := false
	for _, w := range cfg.Webhooks {
		stale = stale || !bytes.Equal(w.ClientConfig.CABundle, b.CACerts)
	}
	if !stale {
		return nil
	}
	cfg = cfg.DeepCopy()
	for i := range cfg.Webhooks {
		cfg.Webhooks[i].ClientConfig.CABundle = b.CACerts
	}
	if _, err := api.Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("patch caBundle of %s: %w", m.configName, err)
	}
	m.log.Info("caBundle patched", "configuration", m.configName, "webhooks", len(cfg.Webhooks))
	return nil
}

// Start re-syncs until ctx ends: at the interval (with jitter, so replicas
// spread out), sooner when something falls due, and sooner after an error.
func (m *selfManaged) Start(ctx context.Context, next time.Time) error {
	for {
		wait := m.interval
		if d := next.Sub(m.now()); d < wait {
			wait = max(d, 0)
		}
		wait += time.Duration(rand.Int64N(int64(m.interval)/10 + 1))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		res, err := m.sync(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && res.nextCheck.IsZero():
			m.log.Error("self-managed tls sync failed; retrying", "err", err)
			next = m.now().Add(min(m.interval, 10*time.Second))
		case err != nil:
			m.log.Warn("self-managed tls: could not publish the caBundle; retrying", "err", err)
			next = m.now().Add(min(m.interval, 10*time.Second))
		default:
			next = res.nextCheck
		}
	}
}
