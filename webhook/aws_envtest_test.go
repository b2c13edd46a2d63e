package webhook

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/internal/ekstest"
	"github.com/tradepulse/secret-injector/webhook/certs"
)

// registerEKS installs a stand-in for the EKS Pod Identity webhook,
// narrowed to namespace. The API server calls mutating webhooks in the
// order of their configurations' names, so name places it before or after
// ours. Like EKS's own, it is not reinvoked.
func registerEKS(t *testing.T, cs kubernetes.Interface, name, namespace, url string, caBundle []byte) {
	t.Helper()
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "iam-for-pods.amazonaws.com",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url), CABundle: caBundle},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: namespace}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
		}},
	}
	api := cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := api.Create(context.Background(), mwc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("register the EKS stand-in: %v", err)
	}
	t.Cleanup(func() {
		if err := api.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete the EKS stand-in: %v", err)
		}
	})
}

// envValue is the value of name in c's environment, and whether it is set
// once.
func envValue(c corev1.Container, name string) (string, bool) {
	var vals []string
	for _, e := range c.Env {
		if e.Name == name {
			vals = append(vals, e.Value)
		}
	}
	if len(vals) != 1 {
		return "", false
	}
	return vals[0], true
}

// TestEnvtestAWSIdentity creates pods through a real API server with our
// webhook and a stand-in for the EKS Pod Identity webhook (IRSA, and Pod
// Identity), registered to run before ours and after ours, and checks
// what the created pod's agent containers carry. After ours, the API
// server reinvokes our webhook (reinvocationPolicy IfNeeded), which must
// keep the identity.
func TestEnvtestAWSIdentity(t *testing.T) {
	rc, cs := apiServer(t)
	dir := t.TempDir()
	bundle := fileModeBundle(t, dir, certs.Bundle{}, time.Now(), []string{"127.0.0.1"})
	opts := testInjectorOptions()
	opts.AWSAllowedRoleARNs = []string{"arn:aws:iam::111122223333:role/tradepulse-*"}
	w := startWebhook(t, Config{TLSMode: TLSModeFile, CertDir: dir, Injector: opts, RestConfig: rc})

	const role = "arn:aws:iam::444455556666:role/ledger"
	identities := []struct {
		name string
		id   ekstest.Identity
		want map[string]string // env on every agent container
		vol  string
		path string
	}{
		{"irsa", ekstest.IRSA(role, "eu-west-1"), map[string]string{
			"AWS_ROLE_ARN": role, "AWS_WEB_IDENTITY_TOKEN_FILE": ekstest.IRSATokenFile,
			"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_STS_REGIONAL_ENDPOINTS": "regional",
		}, ekstest.IRSAVolume, ekstest.IRSAMountPath},
		{"pod-identity", ekstest.PodIdentity("eu-west-1"), map[string]string{
			"AWS_CONTAINER_CREDENTIALS_FULL_URI": ekstest.PodIdentityURI, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": ekstest.PodIdentityTokenFile,
			"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1",
		}, ekstest.PodIdentityVolume, ekstest.PodIdentityMountPath},
	}
	orders := []struct {
		name, eksConfig string
		ourCalls        int64 // admissions of ours per pod
	}{
		{"eks-first", "a-eks", 1},
		{"eks-after", "z-eks", 2},
	}
	for _, id := range identities {
		for _, order := range orders {
			t.Run(id.name+"/"+order.name, func(t *testing.T) {
				ns := "aws-" + id.name + "-" + order.name
				createNamespace(t, cs, ns)
				registerWebhook(t, cs, "m-secret-injector-"+ns, w.url(), ns, bundle.CACerts)
				waitForAdmission(t, cs, ns)

				var eksCalls atomic.Int64
				eks := id.id.NewServer(&eksCalls)
				defer eks.Close()
				ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: eks.Certificate().Raw})
				registerEKS(t, cs, order.eksConfig+"-"+ns, ns, eks.URL+"/mutate", ca)

				pod := testPod(func(p *corev1.Pod) { p.Annotations[injector.AnnotationBackend] = "aws" })
				eventually(t, 20*time.Second, "api server calls the EKS stand-in", func() error {
					got, err := createPod(cs, ns, pod, true)
					if err != nil {
						return err
					}
					if _, ok := envValue(got.Spec.Containers[0], "AWS_REGION"); !ok {
						return errors.New("dry-run pod came back without the EKS identity")
					}
					return nil
				})

				ours, theirs := admissions(t, w.registry), eksCalls.Load()
				got, err := createPod(cs, ns, pod, false)
				if err != nil {
					t.Fatal(err)
				}
				if n := admissions(t, w.registry) - ours; n != float64(order.ourCalls) {
					t.Errorf("our webhook was called %v times for the pod, want %d", n, order.ourCalls)
				}
				if n := eksCalls.Load() - theirs; n != 1 {
					t.Errorf("the EKS stand-in was called %d times, want 1", n)
				}

				var agents []corev1.Container
				for _, c := range slices.Concat(got.Spec.InitContainers, got.Spec.Containers) {
					if c.Name == injector.InitContainerName || c.Name == injector.SidecarName {
						agents = append(agents, c)
					}
				}
				if len(agents) != 1 {
					t.Fatalf("created pod has %d agent containers, want 1 (a native sidecar)", len(agents))
				}
				for _, c := range append(agents, got.Spec.Containers[0]) {
					for name, want := range id.want {
						if v, ok := envValue(c, name); !ok || v != want {
							t.Errorf("%s: %s = %q (set once: %v), want %q", c.Name, name, v, ok, want)
						}
					}
					if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
						return m.Name == id.vol && m.MountPath == id.path && m.ReadOnly
					}) {
						t.Errorf("%s lacks the read-only %s mount at %s: %+v", c.Name, id.vol, id.path, c.VolumeMounts)
					}
				}
				if t.Failed() {
					t.Logf("created pod: %s", fmt.Sprint(got.Spec))
				}
			})
		}
	}

	t.Run("assume-role allow-list", func(t *testing.T) {
		const ns = "aws-assume-role"
		createNamespace(t, cs, ns)
		registerWebhook(t, cs, "m-secret-injector-"+ns, w.url(), ns, bundle.CACerts)
		waitForAdmission(t, cs, ns)
		withRole := func(role string) *corev1.Pod {
			return testPod(func(p *corev1.Pod) {
				p.Annotations[injector.AnnotationBackend] = "aws"
				p.Annotations[injector.AnnotationAWSRoleARN] = role
			})
		}

		_, err := createPod(cs, ns, withRole("arn:aws:iam::999988887777:role/tradepulse-secrets-reader"), false)
		want := `annotation secrets.tradepulse.io/aws-role-arn: "arn:aws:iam::999988887777:role/tradepulse-secrets-reader" is not in the chart's allow-list defaults.aws.allowedRoleARNs`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("create with a role outside the allow-list: %v\nwant a denial containing %s", err, want)
		}
		t.Logf("denial as kubectl shows it: %v", err)

		got, err := createPod(cs, ns, withRole("arn:aws:iam::111122223333:role/tradepulse-secrets-reader"), false)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range got.Spec.InitContainers {
			if c.Name != injector.SidecarName {
				continue
			}
			var fields []string
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
					fields = append(fields, e.Name+"="+e.ValueFrom.FieldRef.FieldPath)
				}
			}
			if want := []string{"SECRET_INJECTOR_POD_NAME=metadata.name", "SECRET_INJECTOR_POD_NAMESPACE=metadata.namespace"}; !slices.Equal(fields, want) {
				t.Errorf("agent's downward env %v, want %v", fields, want)
			}
			return
		}
		t.Fatal("created pod has no agent (native sidecar)")
	})
}
