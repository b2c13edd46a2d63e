package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/injector"
)

// WebhookName names the pod webhook inside its configuration; the API server
// requires a fully qualified name.
const WebhookName = "pods.secrets.tradepulse.io"

// DefaultTimeoutSeconds bounds how long the API server waits for us. The
// injector is pure and answers in milliseconds; 5 s leaves room for a cold
// TLS handshake without holding a pod create for the API server's 10 s.
const DefaultTimeoutSeconds = 5

// OptInExpression is the CEL match condition: only pods that opt in reach
// the webhook, so an outage never blocks a pod that did not ask for secrets.
// has() guards pods without annotations, where indexing would be an error.
const OptInExpression = `has(object.metadata.annotations) && '` + injector.AnnotationInject +
	`' in object.metadata.annotations && object.metadata.annotations['` + injector.AnnotationInject + `'] == 'true'`

// ConfigurationOptions describe the MutatingWebhookConfiguration. Exactly
// one of Service and URL is set.
type ConfigurationOptions struct {
	// Name of the MutatingWebhookConfiguration.
	Name string
	// Service is the in-cluster Service in front of the webhook.
	Service *ServiceRef
	// URL reaches the webhook directly (tests, out-of-cluster); it must
	// end in Path.
	URL string
	// CABundle is the PEM bundle the API server trusts for the webhook.
	CABundle []byte
	// ExcludeNamespaces are never sent to the webhook; nil means
	// kube-system. The API server's own system pods must never depend on us.
	ExcludeNamespaces []string
	// Labels are added to the object's metadata.
	Labels map[string]string
}

// ServiceRef points at the webhook's Service.
type ServiceRef struct {
	Namespace string
	Name      string
	// Port is the Service port; 0 means 443.
	Port int32
}

// MutatingWebhookConfiguration builds the webhook's registration: pod
// CREATE only, opted-in pods only (matchConditions), failing closed
// (failurePolicy Fail: an opted-in pod never starts without its agent),
// reinvoked when a later webhook changes the pod (the injector is
// idempotent), and with no side effects. The Helm chart renders the same
// object.
func MutatingWebhookConfiguration(o ConfigurationOptions) *admissionregistrationv1.MutatingWebhookConfiguration {
	exclude := o.ExcludeNamespaces
	if exclude == nil {
		exclude = []string{metav1.NamespaceSystem}
	}
	var client admissionregistrationv1.WebhookClientConfig
	client.CABundle = o.CABundle
	if o.Service != nil {
		port := o.Service.Port
		if port == 0 {
			port = 443
		}
		client.Service = &admissionregistrationv1.ServiceReference{
			Namespace: o.Service.Namespace,
			Name:      o.Service.Name,
			Path:      ptr.To(Path),
			Port:      ptr.To(port),
		}
	} else {
		client.URL = ptr.To(o.URL)
	}
	var nsSelector metav1.LabelSelector
	if len(exclude) > 0 {
		nsSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{
			Key:      corev1.LabelMetadataName,
			Operator: metav1.LabelSelectorOpNotIn,
			Values:   exclude,
		}}
	}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta: metav1.TypeMeta{
			APIVersion: admissionregistrationv1.SchemeGroupVersion.String(),
			Kind:       "MutatingWebhookConfiguration",
		},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: o.Labels},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    WebhookName,
			ClientConfig:            client,
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			TimeoutSeconds:          ptr.To[int32](DefaultTimeoutSeconds),
			NamespaceSelector:       &nsSelector,
			ObjectSelector:          &metav1.LabelSelector{},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups:   []string{""},
					APIVersions: []string{"v1"},
					Resources:   []string{"pods"},
					Scope:       ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}},
			MatchConditions: []admissionregistrationv1.MatchCondition{{
				Name:       "opted-in",
				Expression: OptInExpression,
			}},
		}},
	}
}
