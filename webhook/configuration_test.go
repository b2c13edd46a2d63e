package webhook

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestMutatingWebhookConfiguration(t *testing.T) {
	tests := []struct {
		name       string
		opts       ConfigurationOptions
		wantClient admissionregistrationv1.WebhookClientConfig
		wantNS     *metav1.LabelSelector
	}{
		{
			name: "service",
			opts: ConfigurationOptions{Name: "secret-injector", Service: &ServiceRef{Namespace: "secret-injector", Name: "secret-injector-webhook"}, CABundle: []byte("ca")},
			wantClient: admissionregistrationv1.WebhookClientConfig{
				Service:  &admissionregistrationv1.ServiceReference{Namespace: "secret-injector", Name: "secret-injector-webhook", Path: ptr.To("/mutate-pods"), Port: ptr.To[int32](443)},
				CABundle: []byte("ca"),
			},
			wantNS: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system"}}}},
		},
		{
			name:       "url, more namespaces excluded",
			opts:       ConfigurationOptions{Name: "x", URL: "https://127.0.0.1:9443/mutate-pods", ExcludeNamespaces: []string{"kube-system", "secret-injector"}},
			wantClient: admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:9443/mutate-pods")},
			wantNS:     &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "secret-injector"}}}},
		},
		{
			name:       "no namespace excluded",
			opts:       ConfigurationOptions{Name: "x", URL: "https://h/mutate-pods", ExcludeNamespaces: []string{}},
			wantClient: admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://h/mutate-pods")},
			wantNS:     &metav1.LabelSelector{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MutatingWebhookConfiguration(tc.opts)
			if got.Name != tc.opts.Name || len(got.Webhooks) != 1 {
				t.Fatalf("name %q, %d webhooks", got.Name, len(got.Webhooks))
			}
			w := got.Webhooks[0]
			if diff := cmp.Diff(tc.wantClient, w.ClientConfig); diff != "" {
				t.Errorf("client config (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantNS, w.NamespaceSelector); diff != "" {
				t.Errorf("namespace selector (-want +got):\n%s", diff)
			}
			want := admissionregistrationv1.MutatingWebhook{
				Name:                    "pods.secrets.tradepulse.io",
				ClientConfig:            w.ClientConfig,
				NamespaceSelector:       w.NamespaceSelector,
				AdmissionReviewVersions: []string{"v1"},
				SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
				FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
				MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
				ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
				TimeoutSeconds:          ptr.To[int32](5),
				ObjectSelector:          &metav1.LabelSelector{},
				Rules: []admissionregistrationv1.RuleWithOperations{{
					Operations: []admissionregistrationv1.OperationType{"CREATE"},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
				}},
				MatchConditions: []admissionregistrationv1.MatchCondition{{
					Name:       "opted-in",
					Expression: `has(object.metadata.annotations) && 'secrets.tradepulse.io/inject' in object.metadata.annotations && object.metadata.annotations['secrets.tradepulse.io/inject'] == 'true'`,
				}},
			}
			if diff := cmp.Diff(want, w); diff != "" {
				t.Errorf("webhook (-want +got):\n%s", diff)
			}
		})
	}
}
