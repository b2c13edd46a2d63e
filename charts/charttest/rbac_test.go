package charttest

import (
	"encoding/base64"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// checkRBAC acts as the webhook's ServiceAccount, with the default render
// installed, and makes the calls self-managed TLS makes (webhook/selfmanaged.go:
// Secret get, create, update; webhook configuration get, update), then
// checks that it can reach nothing else.
func checkRBAC(t *testing.T, env *envtest.Environment) {
	ctx := t.Context()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + testNamespace + ":" + ReleaseName,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + testNamespace, "system:authenticated"},
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := base64.StdEncoding.DecodeString(renderCaseNamed(t, "tls-secret").values["tls"].(map[string]any)["secret"].(map[string]any)["caBundle"].(string))
	if err != nil {
		t.Fatal(err)
	}

	secrets := cs.CoreV1().Secrets(testNamespace)
	tlsName := ReleaseName + "-tls"
	if _, err := secrets.Get(ctx, tlsName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get Secret %s before it exists: %v, want NotFound", tlsName, err)
	}
	sec, err := secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: tlsName, Namespace: testNamespace},
		Data:       map[string][]byte{"ca.crt": ca},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Secret %s: %v", tlsName, err)
	}
	sec.Data["ca.crt"] = append(append([]byte{}, ca...), ca...)
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Errorf("update Secret %s: %v", tlsName, err)
	}

	mwcs := cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	mwc, err := mwcs.Get(ctx, ReleaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get MutatingWebhookConfiguration %s: %v", ReleaseName, err)
	}
	for i := range mwc.Webhooks {
		mwc.Webhooks[i].ClientConfig.CABundle = ca
	}
	if _, err := mwcs.Update(ctx, mwc, metav1.UpdateOptions{}); err != nil {
		t.Errorf("update caBundle of %s: %v", ReleaseName, err)
	}

	denied := map[string]error{}
	_, denied["get another Secret"] = secrets.Get(ctx, "other", metav1.GetOptions{})
	_, denied["list Secrets"] = secrets.List(ctx, metav1.ListOptions{})
	denied["delete its Secret"] = secrets.Delete(ctx, tlsName, metav1.DeleteOptions{})
	_, denied["get a Secret elsewhere"] = cs.CoreV1().Secrets("apps").Get(ctx, "db", metav1.GetOptions{})
	_, denied["list pods"] = cs.CoreV1().Pods("apps").List(ctx, metav1.ListOptions{})
	_, denied["list webhook configurations"] = mwcs.List(ctx, metav1.ListOptions{})
	denied["delete its webhook configuration"] = mwcs.Delete(ctx, ReleaseName, metav1.DeleteOptions{})
	for what, err := range denied {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want Forbidden", what, err)
		}
	}
}
