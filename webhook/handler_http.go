package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tradepulse/secret-injector/injector"
)

// maxReviewBytes caps the body Webhook reads, as controller-runtime's
// webhook does; the admission server's own limit (Limits.MaxRequestBytes)
// is lower and applies first.
const maxReviewBytes = 7 << 20

// Webhook serves a Handler over HTTP, speaking AdmissionReview
// (admission.k8s.io/v1, and v1beta1, which has the same shape). It does
// what controller-runtime's admission.Webhook does, in one decoding of the
// review: the object's bytes are kept as they are, and decoded once, into
// the pod. A pod that carries the injector's digest is first decoded for
// its annotations and its spec's bytes alone, and answered from the
// digest when it matches (digest.go).
type Webhook struct{ h *Handler }

var _ http.Handler = (*Webhook)(nil)

// Webhook wraps the handler as an http.Handler speaking AdmissionReview.
func (h *Handler) Webhook() *Webhook { return &Webhook{h: h} }

// admissionReview is an AdmissionReview of either version.
type admissionReview struct {
	metav1.TypeMeta `json:",inline"`
	Request         *admissionv1.AdmissionRequest  `json:"request,omitempty"`
	Response        *admissionv1.AdmissionResponse `json:"response,omitempty"`
}

var reviewV1 = metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"}

// podReview is an AdmissionReview whose object is decoded as a pod in the
// same pass: the object is read once, not skipped over, copied and read
// again.
type podReview struct {
	metav1.TypeMeta `json:",inline"`
	Request         *struct {
		admissionv1.AdmissionRequest
		// Object hides AdmissionRequest.Object, which is shallower.
		Object *corev1.Pod `json:"object"`
	} `json:"request,omitempty"`
}

// ServeHTTP implements http.Handler.
func (wh *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, code, err := readReview(r)
	if err != nil {
		wh.badRequest(w, code, err)
		return
	}
	start := time.Now()
	req, reviewType, unchanged := wh.unchanged(body)
	if !unchanged {
		req, reviewType, err = wh.decode(body)
		if err != nil {
			wh.badRequest(w, http.StatusBadRequest, err)
			return
		}
	}
	out := admissionReview{TypeMeta: reviewType}
	switch reviewType {
	case reviewV1, metav1.TypeMeta{APIVersion: "admission.k8s.io/v1beta1", Kind: "AdmissionReview"}:
	case metav1.TypeMeta{}:
		out.TypeMeta = reviewV1
	default:
		wh.badRequest(w, http.StatusBadRequest, fmt.Errorf("got %s %s, want an AdmissionReview of admission.k8s.io/v1", reviewType.APIVersion, reviewType.Kind))
		return
	}
	var resp admission.Response
	if unchanged {
		resp = wh.answerUnchanged(req, start)
	} else {
		resp = wh.Handle(r.Context(), req)
	}
	out.Response = &resp.AdmissionResponse
	writeReview(w, out)
}

// decode reads an AdmissionReview. For a Patcher, the object is decoded
// as a pod in the same pass; an object that is not a pod, and any other
// Mutator, which needs the object's bytes, get the object as bytes.
func (wh *Webhook) decode(body []byte) (admission.Request, metav1.TypeMeta, error) {
	var req admission.Request
	if _, ok := wh.h.mutator.(Patcher); ok {
		var in podReview
		if err := json.Unmarshal(body, &in); err == nil {
			if in.Request != nil {
				req.AdmissionRequest = in.Request.AdmissionRequest
				if in.Request.Object != nil {
					req.Object.Object = in.Request.Object
				}
			}
			return req, in.TypeMeta, nil
		}
	}
	var in admissionReview
	if err := json.Unmarshal(body, &in); err != nil {
		return req, in.TypeMeta, fmt.Errorf("decode the AdmissionReview: %w", err)
	}
	if in.Request != nil {
		req.AdmissionRequest = *in.Request
	}
	return req, in.TypeMeta, nil
}

// Handle admits req and completes the answer as ServeHTTP sends it: the
// request's UID, a status code, the encoded patch.
func (wh *Webhook) Handle(ctx context.Context, req admission.Request) admission.Response {
	resp := wh.h.Handle(ctx, req)
	if len(resp.Patches) > 0 {
		patch, err := encodePatch(resp.Patches)
		if err != nil {
			resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode the patch: %w", err))
		} else {
			pt := admissionv1.PatchTypeJSONPatch
			resp.Patch, resp.PatchType, resp.Patches = patch, &pt, nil
		}
	}
	if err := resp.Complete(req); err != nil {
		resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode the patch: %w", err))
	}
	resp.UID = req.UID
	return resp
}

// patchOp encodes as jsonpatch.JsonPatchOperation does, in one pass:
// that type's MarshalJSON encodes each operation on its own, and the
// encoder then checks and compacts the operation's bytes, a second pass
// over every container the patch adds.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

var jsonNull = json.RawMessage("null")

// encodePatch encodes a JSON patch.
func encodePatch(ps []jsonpatch.JsonPatchOperation) ([]byte, error) {
	ops := make([]patchOp, len(ps))
	for i, p := range ps {
		ops[i] = patchOp{Op: p.Operation, Path: p.Path, Value: p.Value}
		if p.Value == nil && (p.Operation == injector.OpAdd || p.Operation == injector.OpReplace) {
			ops[i].Value = jsonNull // "value" is required
		}
	}
	return json.Marshal(ops)
}

// readReview reads the request's body, which must be JSON.
func readReview(r *http.Request) (body []byte, code int, err error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, http.StatusBadRequest, errors.New("request body is empty")
	}
	defer r.Body.Close()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return nil, http.StatusBadRequest, fmt.Errorf("contentType=%s, expected application/json", ct)
	}
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= maxReviewBytes {
		buf.Grow(int(n) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, maxReviewBytes+1)); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("read the request body: %w", err)
	}
	if buf.Len() > maxReviewBytes {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request entity is too large; limit is %d bytes", maxReviewBytes)
	}
	return buf.Bytes(), 0, nil
}

// badRequest answers a request that is not a readable AdmissionReview.
// The error names no part of the pod.
func (wh *Webhook) badRequest(w http.ResponseWriter, code int, err error) {
	wh.h.log.Warn("bad admission request", "err", err)
	resp := admission.Errored(int32(code), err)
	writeReview(w, admissionReview{TypeMeta: reviewV1, Response: &resp.AdmissionResponse})
}

func writeReview(w http.ResponseWriter, out admissionReview) {
	w.Header().Set("Content-Type", "application/json")
	// The encoder writes from its own pooled buffer: no copy of the answer.
	// It fails only on a broken connection (the patch is bytes already),
	// where no answer reaches anyone.
	_ = json.NewEncoder(w).Encode(out)
}
