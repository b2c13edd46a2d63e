package charttest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/tradepulse/secret-injector/webhook"
)

// TestWebhookConfigurationMatchesWebhook: with default values the chart
// registers the very webhook the webhook package describes (name, path,
// opt-in condition, failure and reinvocation policy, timeout), so tests that
// register webhook.MutatingWebhookConfiguration test what users install.
// Only caBundle is absent: the running webhook patches it in.
func TestWebhookConfigurationMatchesWebhook(t *testing.T) {
	helm := helmBinary(t)
	mwcs := byKind(t, helm, nil, "MutatingWebhookConfiguration")
	if len(mwcs) != 1 {
		t.Fatalf("got %d MutatingWebhookConfigurations, want 1", len(mwcs))
	}
	var got admissionregistrationv1.MutatingWebhookConfiguration
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(mwcs[0].Object, &got); err != nil {
		t.Fatal(err)
	}
	want := webhook.MutatingWebhookConfiguration(webhook.ConfigurationOptions{
		Name:              ReleaseName,
		Service:           &webhook.ServiceRef{Namespace: testNamespace, Name: ReleaseName},
		ExcludeNamespaces: []string{"kube-system", testNamespace},
	})
	if got.Name != want.Name {
		t.Errorf("name %q, want %q", got.Name, want.Name)
	}
	if diff := cmp.Diff(want.Webhooks, got.Webhooks); diff != "" {
		t.Errorf("webhooks (-webhook package +chart):\n%s", diff)
	}
}
