package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/injector"
)

// serve posts body to the webhook and decodes its answer.
func serve(t *testing.T, wh http.Handler, contentType string, body []byte) admissionReview {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	wh.ServeHTTP(rec, req)
	var out admissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("answer is not an AdmissionReview (%v): %s", err, rec.Body.String())
	}
	return out
}

func reviewOf(t *testing.T, apiVersion string, kind string, object []byte) []byte {
	t.Helper()
	r := podRequest(t, object)
	if kind != "" {
		r.Kind.Kind = kind
	}
	return mustJSON(t, admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"},
		Request:  &r.AdmissionRequest,
	})
}

// TestWebhookAnswersInKind: the answer is an AdmissionReview of the
// request's version, carries its UID, and its patch turns the pod into the
// pod Inject makes, for the Patcher and for a plain Mutator.
func TestWebhookAnswersInKind(t *testing.T) {
	raw := mustJSON(t, testPod(nil))
	want := testPod(nil)
	if _, err := injector.Inject(want, testInjectorOptions()); err != nil {
		t.Fatal(err)
	}
	plain := MutatorFunc(func(p *corev1.Pod) (bool, error) { return injector.Inject(p, testInjectorOptions()) })
	for name, m := range map[string]Mutator{"patcher": InjectorMutator(testInjectorOptions()), "mutator": plain} {
		for _, v := range []string{"admission.k8s.io/v1", "admission.k8s.io/v1beta1"} {
			t.Run(name+" "+v, func(t *testing.T) {
				h, _, _ := newTestHandler(m)
				out := serve(t, h.Webhook(), "application/json", reviewOf(t, v, "", raw))
				if out.APIVersion != v || out.Kind != "AdmissionReview" {
					t.Errorf("answer is %s %s, want %s AdmissionReview", out.APIVersion, out.Kind, v)
				}
				r := out.Response
				if r.UID != "uid-1" || !r.Allowed || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
					t.Fatalf("response %+v", r)
				}
				p, err := jsonpatch.DecodePatch(r.Patch)
				if err != nil {
					t.Fatal(err)
				}
				patched, err := p.Apply(raw)
				if err != nil {
					t.Fatal(err)
				}
				var got corev1.Pod
				if err := json.Unmarshal(patched, &got); err != nil {
					t.Fatal(err)
				}
				// The Patcher's answer also carries the digest, which
				// Inject does not write (digest_test.go checks it).
				if _, ok := got.Annotations[injector.AnnotationDigest]; ok != (name == "patcher") {
					t.Errorf("digest annotation written: %v, want %v", ok, name == "patcher")
				}
				delete(got.Annotations, injector.AnnotationDigest)
				if !equality.Semantic.DeepEqual(want, &got) {
					t.Errorf("patched pod (-injected +patched):\n%s", cmp.Diff(want, &got))
				}
			})
		}
	}
}

func TestWebhookRefusals(t *testing.T) {
	h, _, _ := newTestHandler(InjectorMutator(testInjectorOptions()))
	wh := h.Webhook()
	pod := mustJSON(t, testPod(nil))
	tests := []struct {
		name, contentType string
		body              []byte
		wantAllowed       bool
		wantCode          int32
	}{
		{"wrong content type", "text/plain", reviewOf(t, "admission.k8s.io/v1", "", pod), false, http.StatusBadRequest},
		{"not JSON", "application/json", []byte("{"), false, http.StatusBadRequest},
		{"another kind of review", "application/json", []byte(`{"apiVersion":"v1","kind":"Pod"}`), false, http.StatusBadRequest},
		{"no request", "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), true, http.StatusOK},
		// An object that does not decode as a pod is read as bytes, and
		// the kind decides.
		{"not a pod", "application/json", reviewOf(t, "admission.k8s.io/v1", "Deployment", []byte(`{"spec":{"containers":"x"}}`)), true, http.StatusOK},
		{"undecodable pod", "application/json", reviewOf(t, "admission.k8s.io/v1", "", []byte(`{"spec":7}`)), false, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := serve(t, wh, tc.contentType, tc.body).Response
			if r.Allowed != tc.wantAllowed || r.Result == nil || r.Result.Code != tc.wantCode {
				t.Errorf("response %+v, want allowed=%v code %d", r, tc.wantAllowed, tc.wantCode)
			}
			if !r.Allowed && r.Result.Message == "" {
				t.Error("refusal without a message")
			}
		})
	}
}
