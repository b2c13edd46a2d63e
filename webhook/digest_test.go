package webhook

import (
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/injector"
)

// TestWebhookDigestFastPath: a pod as our webhook's first answer left it
// comes back allowed without a patch, answered from the digest (outcome
// match, result skipped); the same pod changed after us (another webhook
// adds a container) or seen by a webhook with other options is decoded and
// patched in full, and that answer equals a webhook's without the fast
// path (a plain Mutator: Inject, diffed by the library).
func TestWebhookDigestFastPath(t *testing.T) {
	h, metrics, _ := newTestHandler(InjectorMutator(testInjectorOptions()))
	wh := h.Webhook()
	raw := mustJSON(t, testPod(nil))
	first := serve(t, wh, "application/json", reviewOf(t, "admission.k8s.io/v1", "", raw))
	if !first.Response.Allowed || len(first.Response.Patch) == 0 {
		t.Fatalf("first admission: %+v", first.Response)
	}
	p, err := jsonpatch.DecodePatch(first.Response.Patch)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := p.Apply(raw)
	if err != nil {
		t.Fatal(err)
	}
	var injected corev1.Pod
	if err := json.Unmarshal(patched, &injected); err != nil {
		t.Fatal(err)
	}
	if injected.Annotations[injector.AnnotationDigest] == "" {
		t.Fatal("the first answer writes no digest")
	}

	again := serve(t, wh, "application/json", reviewOf(t, "admission.k8s.io/v1", "", mustJSON(t, &injected)))
	if r := again.Response; !r.Allowed || len(r.Patch) != 0 || r.PatchType != nil || r.UID != "uid-1" {
		t.Fatalf("unchanged pod: %+v", r)
	}
	if got := testutil.ToFloat64(metrics.digest.WithLabelValues(DigestMatch)); got != 1 {
		t.Errorf("digest_checks_total{outcome=match} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(metrics.admissions.WithLabelValues(ResultSkipped)); got != 1 {
		t.Errorf("admissions_total{result=skipped} = %v, want 1", got)
	}

	plain := MutatorFunc(func(p *corev1.Pod) (bool, error) { return injector.Inject(p, testInjectorOptions()) })
	changed := injected.DeepCopy()
	changed.Spec.Containers = append(changed.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "istio/proxyv2"})
	otherOpts := testInjectorOptions()
	otherOpts.AgentImage = "ghcr.io/tradepulse/secret-injector:v0.2.0"
	other := MutatorFunc(func(p *corev1.Pod) (bool, error) { return injector.Inject(p, otherOpts) })
	for _, tc := range []struct {
		name  string
		opts  injector.Options
		plain Mutator
		pod   *corev1.Pod
	}{
		{"container added after us", testInjectorOptions(), plain, changed},
		{"other options", otherOpts, other, &injected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, metrics, _ := newTestHandler(InjectorMutator(tc.opts))
			body := reviewOf(t, "admission.k8s.io/v1", "", mustJSON(t, tc.pod))
			got := serve(t, h.Webhook(), "application/json", body)
			if n := testutil.ToFloat64(metrics.digest.WithLabelValues(DigestMismatch)); n != 1 {
				t.Errorf("digest_checks_total{outcome=mismatch} = %v, want 1", n)
			}
			ph, _, _ := newTestHandler(tc.plain)
			want := serve(t, ph.Webhook(), "application/json", body)
			if len(got.Response.Patch) == 0 || len(want.Response.Patch) == 0 {
				t.Fatalf("want patches from both paths, got %s and %s", got.Response.Patch, want.Response.Patch)
			}
			gotPod, wantPod := applyReviewPatch(t, body, got.Response.Patch), applyReviewPatch(t, body, want.Response.Patch)
			if gotPod.Annotations[injector.AnnotationDigest] == injected.Annotations[injector.AnnotationDigest] {
				t.Error("the digest was not renewed")
			}
			delete(gotPod.Annotations, injector.AnnotationDigest)
			delete(wantPod.Annotations, injector.AnnotationDigest)
			if a, b := mustJSON(t, gotPod), mustJSON(t, wantPod); string(a) != string(b) {
				t.Errorf("full path differs from Inject's:\n%s\n%s", a, b)
			}
		})
	}
}

// applyReviewPatch applies patch to the pod of the review body.
func applyReviewPatch(t *testing.T, body, patch []byte) *corev1.Pod {
	t.Helper()
	var r admissionReview
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(r.Request.Object.Raw)
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(out, &pod); err != nil {
		t.Fatal(err)
	}
	return &pod
}
