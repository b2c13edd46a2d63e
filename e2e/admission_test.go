package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/e2e/podrunner"
	"github.com/tradepulse/secret-injector/injector"
)

// webhookRequests is how many admission requests the webhook process has
// answered (its admission duration histogram's count).
func webhookRequests(t *testing.T, ctx context.Context) float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, theBed.WebhookMetricsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape the webhook: %v", err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := podrunner.Metric(string(b), "secret_injector_webhook_admission_duration_seconds_count", nil)
	return v
}

// plainPod is a pod that did not opt in.
func plainPod(name string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec: corev1.PodSpec{
			ServiceAccountName: "default",
			Containers:         []corev1.Container{{Name: "research", Image: "ghcr.io/tradepulse/research:1.0"}},
		},
	}
}

// optedIn is a pod that asks for one secret; extra annotations are added
// under the prefix.
func optedIn(name string, extra map[string]string) *corev1.Pod {
	ann := map[string]string{
		injector.AnnotationInject:                           "true",
		injector.AnnotationBackend:                          "gcp",
		injector.AnnotationSecretPrefix + "binance-api-key": "tradepulse/exchanges/binance/api-key",
	}
	for k, v := range extra {
		ann[injector.Prefix+k] = v
	}
	p := plainPod(name, ann)
	p.Spec.Containers[0].Name = "trading-engine"
	return p
}

// Scenario 5, admission: a bad annotation is denied at create with a
// message naming the key and why (and never the secret's reference); a pod
// that did not opt in is stored exactly as sent and never reaches the
// webhook; with the webhook down an opted-in pod is refused and a plain
// one is created.
//
// Not parallel: it stops the shared webhook. Go runs the parallel
// top-level tests only after every sequential one has finished, so no pod
// of theirs is created while the webhook is down.
func TestAdmission(t *testing.T) {
	b := needBed(t)
	printWebhookLogsOnFailure(t)
	ctx := testContext(t, 2*time.Minute)
	ns := newNamespace(t, "e2e-admission")
	pods := b.Client.CoreV1().Pods(ns)

	t.Run("bad annotation denied", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			extra map[string]string
			want  string
		}{
			{"typo", map[string]string{"secert-binance-api-secret": "tradepulse/exchanges/binance/api-secret"},
				`annotation secrets.tradepulse.io/secert-binance-api-secret: unknown key; did you mean secrets.tradepulse.io/secret-binance-api-secret?`},
			{"mode", map[string]string{"mode": "always"},
				`annotation secrets.tradepulse.io/mode: "always" is not one of init+sidecar, init, sidecar`},
			{"reload off the pod", map[string]string{"reload": "http://169.254.169.254/latest"},
				`annotation secrets.tradepulse.io/reload:`},
			{"backend", map[string]string{"backend": "azure"},
				`annotation secrets.tradepulse.io/backend: "azure" is not one of`},
			{"file name", map[string]string{"secret-API_KEY": "tradepulse/exchanges/binance/api-key"},
				`"API_KEY" must start with a lower-case letter or digit`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				name := "denied-" + token()
				_, err := pods.Create(ctx, optedIn(name, tc.extra), metav1.CreateOptions{})
				if err == nil {
					t.Fatal("created; want denied")
				}
				msg := err.Error()
				if !apierrors.IsForbidden(err) && !strings.Contains(msg, "denied the request") {
					t.Errorf("not a denial by the webhook: %v", err)
				}
				if !strings.Contains(msg, tc.want) {
					t.Errorf("denial message\n  %s\nwant it to contain\n  %s", msg, tc.want)
				}
				if strings.Contains(msg, "tradepulse/exchanges") {
					t.Errorf("the denial shows a secret reference: %s", msg)
				}
				if _, err := pods.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
					t.Errorf("a denied pod exists: %v", err)
				}
			})
		}
	})

	t.Run("pod without the annotation untouched", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			ann  map[string]string
		}{
			{"no annotations", nil},
			{"inject false", map[string]string{injector.AnnotationInject: "false", "team": "research"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := webhookRequests(t, ctx)
				sent := plainPod("plain-"+token(), tc.ann)
				got, err := pods.Create(ctx, sent, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(sent.Annotations, got.Annotations); diff != "" {
					t.Errorf("annotations changed (-sent +stored):\n%s", diff)
				}
				if len(got.Spec.InitContainers) != 0 || len(got.Spec.Containers) != 1 || len(got.Spec.Volumes) != 0 ||
					len(got.Spec.Containers[0].VolumeMounts) != 0 || len(got.Spec.Containers[0].Env) != 0 {
					t.Errorf("the pod was changed: init %d, containers %d, volumes %d, mounts %d, env %d",
						len(got.Spec.InitContainers), len(got.Spec.Containers), len(got.Spec.Volumes),
						len(got.Spec.Containers[0].VolumeMounts), len(got.Spec.Containers[0].Env))
				}
				if after := webhookRequests(t, ctx); after != before {
					t.Errorf("the API server sent a pod that did not opt in to the webhook (%v requests, then %v)", before, after)
				}
			})
		}
	})

	t.Run("webhook down", func(t *testing.T) {
		b.StopWebhook()
		t.Cleanup(func() {
			c, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := b.StartWebhook(c); err != nil {
				t.Errorf("restart the webhook: %v", err)
			}
		})
		name := "refused-" + token()
		_, err := pods.Create(ctx, optedIn(name, nil), metav1.CreateOptions{})
		if err == nil {
			t.Fatal("an opted-in pod was created while the webhook was down (failurePolicy must be Fail)")
		}
		if !strings.Contains(err.Error(), `failed calling webhook "pods.secrets.tradepulse.io"`) {
			t.Errorf("refusal does not say the webhook failed: %v", err)
		}
		if _, err := pods.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a refused pod exists: %v", err)
		}
		if _, err := pods.Create(ctx, plainPod("plain-"+token(), nil), metav1.CreateOptions{}); err != nil {
			t.Errorf("a pod that did not opt in was refused while the webhook was down: %v", err)
		}

		// Back up: opted-in pods are injected again.
		if err := b.StartWebhook(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := pods.Create(ctx, optedIn("back-"+token(), nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("after the webhook came back: %v", err)
		}
		if got.Annotations[injector.AnnotationStatus] != "injected" {
			t.Errorf("after the webhook came back the pod was not injected")
		}
	})
}
