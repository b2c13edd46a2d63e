package webhook

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/webhook/certs"
)

// patchingWebhook is a stand-in for another mutating webhook: it answers
// every pod with ops, made from the pod it gets.
func patchingWebhook(ops func(*corev1.Pod) []map[string]any) *httptest.Server {
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var review admissionv1.AdmissionReview
		if err == nil {
			err = json.Unmarshal(body, &review)
		}
		var pod corev1.Pod
		if err == nil && review.Request != nil {
			err = json.Unmarshal(review.Request.Object.Raw, &pod)
		}
		if err != nil || review.Request == nil {
			http.Error(w, "not a pod review", http.StatusBadRequest)
			return
		}
		patch, _ := json.Marshal(ops(&pod))
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true, Patch: patch, PatchType: ptr.To(admissionv1.PatchTypeJSONPatch)}
		review.Request = nil
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review)
	}))
}

// digestChecks reads digest_checks_total{outcome}.
func digestChecks(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "secret_injector_webhook_digest_checks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestEnvtestDigest: through a real API server, with another webhook
// after ours (so the API server reinvokes ours), the reinvocation is
// answered from the digest when that webhook changed only what the digest
// does not cover (a label), and in full when it added a container, which
// then gets the secrets mount. This checks that the API server sends the
// injected spec byte for byte as the injector encodes it.
func TestEnvtestDigest(t *testing.T) {
	rc, cs := apiServer(t)
	dir := t.TempDir()
	bundle := fileModeBundle(t, dir, certs.Bundle{}, time.Now(), []string{"127.0.0.1"})
	w := startWebhook(t, Config{TLSMode: TLSModeFile, CertDir: dir, Injector: testInjectorOptions(), RestConfig: rc})

	cases := []struct {
		name    string
		ops     func(*corev1.Pod) []map[string]any
		outcome string
		check   func(t *testing.T, p *corev1.Pod)
	}{
		{"label", func(p *corev1.Pod) []map[string]any {
			if p.Labels == nil {
				return []map[string]any{{"op": "add", "path": "/metadata/labels", "value": map[string]string{"mesh": "on"}}}
			}
			return []map[string]any{{"op": "add", "path": "/metadata/labels/mesh", "value": "on"}}
		}, DigestMatch, func(t *testing.T, p *corev1.Pod) {
			if p.Labels["mesh"] != "on" {
				t.Errorf("labels %v", p.Labels)
			}
		}},
		{"container", func(p *corev1.Pod) []map[string]any {
			return []map[string]any{{"op": "add", "path": "/spec/containers/-", "value": corev1.Container{Name: "mesh-proxy", Image: "mesh/proxy:1"}}}
		}, DigestMismatch, func(t *testing.T, p *corev1.Pod) {
			i := slices.IndexFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Name == "mesh-proxy" })
			if i < 0 || !slices.ContainsFunc(p.Spec.Containers[i].VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == injector.VolumeName }) {
				t.Errorf("the container added after us lacks the secrets mount: %+v", p.Spec.Containers)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := "digest-" + tc.name
			createNamespace(t, cs, ns)
			registerWebhook(t, cs, "m-secret-injector-"+ns, w.url(), ns, bundle.CACerts)
			waitForAdmission(t, cs, ns)
			other := patchingWebhook(tc.ops)
			defer other.Close()
			ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Certificate().Raw})
			registerEKS(t, cs, "z-other-"+ns, ns, other.URL, ca)
			eventually(t, 20*time.Second, "api server calls the other webhook", func() error {
				_, err := createPod(cs, ns, testPod(nil), true)
				return err
			})
			before := map[string]float64{DigestMatch: digestChecks(t, w.registry, DigestMatch), DigestMismatch: digestChecks(t, w.registry, DigestMismatch)}
			ours := admissions(t, w.registry)
			got, err := createPod(cs, ns, testPod(nil), false)
			if err != nil {
				t.Fatal(err)
			}
			if n := admissions(t, w.registry) - ours; n != 2 {
				t.Errorf("our webhook was called %v times, want 2 (reinvoked)", n)
			}
			for _, o := range []string{DigestMatch, DigestMismatch} {
				want := 0.0
				if o == tc.outcome {
					want = 1
				}
				if n := digestChecks(t, w.registry, o) - before[o]; n != want {
					t.Errorf("digest_checks_total{outcome=%s} rose by %v, want %v", o, n, want)
				}
			}
			if !isInjected(got) || got.Annotations[injector.AnnotationDigest] == "" {
				t.Errorf("created pod not injected with a digest: %v", got.Annotations)
			}
			tc.check(t, got)
		})
	}
}
