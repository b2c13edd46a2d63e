package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tradepulse/secret-injector/injector"
)

// FuzzHandle feeds untrusted bytes to the webhook two ways: as the whole
// HTTP body, and as the pod inside a well-formed AdmissionReview. It must
// never panic and must always answer with a well-formed AdmissionReview;
// an allowed patch must apply to the object it was computed from.
func FuzzHandle(f *testing.F) {
	opted := mustJSON(f, testPod(nil))
	bad := mustJSON(f, testPod(func(p *corev1.Pod) { p.Annotations[injector.AnnotationMode] = "x" }))
	plain := mustJSON(f, testPod(func(p *corev1.Pod) { p.Annotations = nil }))
	review := func(obj []byte) []byte {
		r := podRequest(f, obj)
		return mustJSON(f, admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{Kind: "AdmissionReview", APIVersion: admissionv1.SchemeGroupVersion.String()},
			Request:  &r.AdmissionRequest,
		})
	}
	for _, obj := range [][]byte{opted, bad, plain, []byte(`{}`), []byte(`null`), []byte(`{"metadata":{"annotations":{"secrets.tradepulse.io/inject":"true"}}}`)} {
		f.Add(review(obj), obj)
	}
	// A pod as our answer left it, which the digest path answers.
	ih, _, _ := newTestHandler(InjectorMutator(testInjectorOptions()))
	first, _ := ih.handle(podRequest(f, opted))
	injected := applyPatch(f, opted, first)
	f.Add(review(injected), injected)
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), []byte(`[]`))
	f.Add([]byte(`not json`), []byte("\x00"))

	h, _, _ := newTestHandler(InjectorMutator(testInjectorOptions()))
	wh := h.Webhook()
	f.Fuzz(func(t *testing.T, body, object []byte) {
		// 1. The body as it arrives over HTTP.
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		wh.ServeHTTP(rec, req)
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("response is not JSON: %v\n%s", err, rec.Body.String())
		}
		if out.Response == nil {
			t.Fatalf("response has no AdmissionResponse: %s", rec.Body.String())
		}
		if !out.Response.Allowed && (out.Response.Result == nil || out.Response.Result.Message == "") {
			t.Fatalf("refusal without a message: %s", rec.Body.String())
		}

		// 2. The object inside a well-formed request, without the
		// library's panic recovery in between.
		r := podRequest(t, object)
		resp, result := h.handle(r)
		checkResponse(t, object, resp, result)
		if full := wh.Handle(context.Background(), r); full.UID != r.UID {
			t.Fatalf("response UID %q does not answer request %q", full.UID, r.UID)
		}
	})
}

func checkResponse(t *testing.T, object []byte, resp admission.Response, result string) {
	t.Helper()
	switch result {
	case ResultInjected:
		if !resp.Allowed || len(resp.Patches) == 0 {
			t.Fatalf("injected without a patch: %+v", resp)
		}
		var pod corev1.Pod
		if err := json.Unmarshal(applyPatch(t, object, resp), &pod); err != nil {
			t.Fatalf("patched object is not a pod: %v", err)
		}
	case ResultSkipped:
		if !resp.Allowed || len(resp.Patches) != 0 {
			t.Fatalf("skipped but allowed=%v patches=%v", resp.Allowed, resp.Patches)
		}
	case ResultDenied, ResultError:
		if resp.Allowed || resp.Result == nil || resp.Result.Message == "" {
			t.Fatalf("%s without a refusal message: %+v", result, resp)
		}
	default:
		t.Fatalf("unknown result %q", result)
	}
}
