package charttest

import (
	"context"
	"os"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tradepulse/secret-injector/injector"
)

// startAPIServer starts a real kube-apiserver and etcd (envtest) with the
// CRDs the optional objects need, or skips locally / fails in CI when the
// binaries are missing.
func startAPIServer(t *testing.T) *envtest.Environment {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("KUBEBUILDER_ASSETS is not set (CI=true: the API server tests may not be skipped)")
		}
		t.Skip("KUBEBUILDER_ASSETS is not set; build the API server with: eval \"$(hack/k8s-tools.sh env)\"")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, CRDs: thirdPartyCRDs()}
	if _, err := env.Start(); err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	return env
}

// thirdPartyCRDs stands in for cert-manager's and the Prometheus Operator's
// CRDs: the same groups, kinds and scope, any content. The API server then
// checks what a CRD does not (metadata, names, namespaces), the real
// operators validate the rest.
func thirdPartyCRDs() []*apiextensionsv1.CustomResourceDefinition {
	type crd struct{ group, kind, plural string }
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, c := range []crd{
		{"cert-manager.io", "Certificate", "certificates"},
		{"cert-manager.io", "Issuer", "issuers"},
		{"monitoring.coreos.com", "PodMonitor", "podmonitors"},
		{"monitoring.coreos.com", "ServiceMonitor", "servicemonitors"},
		{"monitoring.coreos.com", "PrometheusRule", "prometheusrules"},
	} {
		preserve := true
		out = append(out, &apiextensionsv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: c.plural + "." + c.group},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: c.group,
				Names: apiextensionsv1.CustomResourceDefinitionNames{
					Kind: c.kind, ListKind: c.kind + "List", Plural: c.plural, Singular: strings.ToLower(c.kind),
				},
				Scope: apiextensionsv1.NamespaceScoped,
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
					Name: "v1", Served: true, Storage: true,
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
						Type: "object", XPreserveUnknownFields: &preserve,
					}},
				}},
			},
		})
	}
	return out
}

func createNamespace(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// install creates every object of a render, as helm install would, and
// returns them.
func install(ctx context.Context, t *testing.T, c client.Client, helm string, values map[string]any, ns string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Render(helm, values, ns)
	if err != nil {
		t.Fatal(err)
	}
	createNamespace(ctx, t, c, ns)
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Errorf("create %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
	return objs
}

// TestAPIServer uses a real API server: the pod NOTES.txt prints is
// injectable; the default render is accepted as is; with its webhook
// configuration registered and no webhook running, only opted-in pods are
// refused; its RBAC allows the webhook's calls and nothing more; and every
// other case's render is accepted too, under a name of its own.
func TestAPIServer(t *testing.T) {
	helm := helmBinary(t)
	env := startAPIServer(t)
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// first: helm refuses even a dry-run install over objects it does not own
	t.Run("notes", func(t *testing.T) { checkNotes(t, env, helm) })

	t.Run("default", func(t *testing.T) {
		objs := install(ctx, t, c, helm, nil, testNamespace)
		kinds := map[string]bool{}
		for _, o := range objs {
			kinds[o.GetKind()] = true
		}
		for _, k := range []string{"Deployment", "Service", "ServiceAccount", "Role", "RoleBinding",
			"ClusterRole", "ClusterRoleBinding", "PodDisruptionBudget", "MutatingWebhookConfiguration"} {
			if !kinds[k] {
				t.Errorf("default render has no %s", k)
			}
		}
		// the server kept the CEL condition it compiled
		var mwc admissionregistrationv1.MutatingWebhookConfiguration
		if err := c.Get(ctx, client.ObjectKey{Name: ReleaseName}, &mwc); err != nil {
			t.Fatal(err)
		}
		if len(mwc.Webhooks) != 1 || len(mwc.Webhooks[0].MatchConditions) != 1 {
			t.Fatalf("stored webhooks %+v, want one with one match condition", mwc.Webhooks)
		}
	})

	t.Run("outage blocks opted-in pods only", func(t *testing.T) {
		createNamespace(ctx, t, c, "apps")
		pod := func(ns, name string, annotations map[string]string) *corev1.Pod {
			return &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox:1.36"}}},
			}
		}
		optIn := map[string]string{injector.AnnotationInject: "true", injector.AnnotationSecretPrefix + "api-key": "tradepulse/exchanges/binance/api-key"}
		allowed := []*corev1.Pod{
			pod("apps", "plain", nil),
			pod("apps", "opted-out", map[string]string{injector.AnnotationInject: "false"}),
			pod("kube-system", "system", optIn),
			pod(testNamespace, "own-namespace", optIn),
		}
		for _, p := range allowed {
			if err := c.Create(ctx, p); err != nil {
				t.Errorf("pod %s/%s was refused while the webhook is down: %v", p.Namespace, p.Name, err)
			}
		}
		err := c.Create(ctx, pod("apps", "opted-in", optIn))
		if err == nil {
			t.Fatal("an opted-in pod was created without the webhook: it would start without its secrets")
		}
		if !strings.Contains(err.Error(), "pods.secrets.tradepulse.io") {
			t.Errorf("opted-in pod refused, but not by our webhook: %v", err)
		}
	})

	t.Run("RBAC allows exactly the webhook's calls", func(t *testing.T) { checkRBAC(t, env) })

	for _, rc := range renderCases(t) {
		if rc.name == "default" {
			continue
		}
		t.Run(rc.name, func(t *testing.T) {
			name := "si-" + rc.name
			values := map[string]any{"fullnameOverride": name}
			for k, v := range rc.values {
				values[k] = v
			}
			install(ctx, t, c, helm, values, name)
		})
	}
}
