package charttest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// networkPolicy renders values and returns the one NetworkPolicy, or nil.
func networkPolicy(t *testing.T, helm string, values map[string]any) *networkingv1.NetworkPolicy {
	t.Helper()
	nps := byKind(t, helm, values, "NetworkPolicy")
	switch len(nps) {
	case 0:
		return nil
	case 1:
	default:
		t.Fatalf("%d NetworkPolicies, want 1", len(nps))
	}
	var np networkingv1.NetworkPolicy
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(nps[0].Object, &np); err != nil {
		t.Fatal(err)
	}
	return &np
}

// TestNetworkPolicy: by default the webhook pods admit the admission port
// from anywhere (the API server is not a pod, so nothing narrower is safe
// without knowing the control plane's addresses) and the metrics port from
// pods only; no other port. Both are configurable, and the policy can be
// turned off.
func TestNetworkPolicy(t *testing.T) {
	helm := helmBinary(t)
	admission := []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromString("https")), Protocol: ptr(corev1.ProtocolTCP)}}
	metrics := []networkingv1.NetworkPolicyPort{{Port: ptr(intstr.FromString("http-metrics")), Protocol: ptr(corev1.ProtocolTCP)}}
	allPods := []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}
	tests := []struct {
		name   string
		values map[string]any
		want   []networkingv1.NetworkPolicyIngressRule // nil: no policy
	}{
		{"default", nil, []networkingv1.NetworkPolicyIngressRule{{Ports: admission}, {Ports: metrics, From: allPods}}},
		{"control plane CIDR", map[string]any{"networkPolicy": map[string]any{
			"webhookFrom": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/24"}}},
			"metricsFrom": []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}},
		}}, []networkingv1.NetworkPolicyIngressRule{
			{Ports: admission, From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/24"}}}},
			{Ports: metrics, From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}}}},
		}},
		{"metrics closed", map[string]any{"networkPolicy": map[string]any{"metricsFrom": []any{}}},
			[]networkingv1.NetworkPolicyIngressRule{{Ports: admission}}},
		{"disabled", map[string]any{"networkPolicy": map[string]any{"enabled": false}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			np := networkPolicy(t, helm, tt.values)
			if tt.want == nil {
				if np != nil {
					t.Fatal("NetworkPolicy rendered with networkPolicy.enabled=false")
				}
				return
			}
			if np == nil {
				t.Fatal("no NetworkPolicy")
			}
			if diff := cmp.Diff([]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, np.Spec.PolicyTypes); diff != "" {
				t.Errorf("policy types (-want +got):\n%s", diff)
			}
			if got := np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"]; got != "webhook" {
				t.Errorf("selects component %q, want the webhook pods", got)
			}
			if diff := cmp.Diff(tt.want, np.Spec.Ingress); diff != "" {
				t.Errorf("ingress (-want +got):\n%s", diff)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
