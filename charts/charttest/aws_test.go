package charttest

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/injector"
)

// TestAWSAllowedRoleARNs: defaults.aws.allowedRoleARNs reaches the
// webhook, whose injector then lets a pod assume a listed role and denies
// one outside the list, naming the value to change; without the value no
// role is allowed.
func TestAWSAllowedRoleARNs(t *testing.T) {
	helm := helmBinary(t)
	pod := func(role string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "ledger", Namespace: "trading", Annotations: map[string]string{
				injector.AnnotationInject:              "true",
				injector.AnnotationBackend:             "aws",
				injector.AnnotationAWSRoleARN:          role,
				injector.AnnotationSecretPrefix + "db": "tradepulse/ledger/db",
			}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ledger", Image: "ghcr.io/tradepulse/ledger:2"}}},
		}
	}
	tests := []struct {
		values string
		role   string
		denied bool
	}{
		{"backend-aws", "arn:aws:iam::111122223333:role/tradepulse-secrets-reader", false},
		{"backend-aws", "arn:aws:iam::999988887777:role/tradepulse-audit-reader", false},
		{"backend-aws", "arn:aws:iam::999988887777:role/tradepulse-secrets-reader", true},
		{"backend-aws", "arn:aws:iam::111122223333:role/admin", true},
		{"default", "arn:aws:iam::111122223333:role/tradepulse-secrets-reader", true},
	}
	for _, tt := range tests {
		t.Run(tt.values+" "+tt.role, func(t *testing.T) {
			rc := renderCaseNamed(t, tt.values)
			objs, err := Render(helm, rc.values, testNamespace)
			if err != nil {
				t.Fatal(err)
			}
			_, flags := webhookArgs(t, objs)
			opts := optionsFromFlags(t, flags)
			if tt.values == "default" {
				opts.EnabledBackends = append(opts.EnabledBackends, "aws")
			}
			_, err = injector.Inject(pod(tt.role), opts)
			switch {
			case tt.denied && (err == nil || !strings.Contains(err.Error(), "not in the chart's allow-list defaults.aws.allowedRoleARNs")):
				t.Errorf("Inject = %v, want a denial naming defaults.aws.allowedRoleARNs", err)
			case !tt.denied && err != nil:
				t.Errorf("Inject: %v", err)
			}
		})
	}
}
