package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// maxReviewBytes caps the body Webhook reads, as controller-runtime's
// webhook does; the admission server's own limit (Limits.MaxRequestBytes)
// is lower and applies first.
const maxReviewBytes = 7 << 20

// Webhook serves a Handler over HTTP, speaking AdmissionReview
// (admission.k8s.io/v1, and v1beta1, which has the same shape). It does
// what controller-runtime's admission.Webhook does, in one decoding of the
// review: the object's bytes are kept as they are, and decoded once, into
// the pod.
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

// ServeHTTP implements http.Handler.
func (wh *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, code, err := readReview(r)
	if err != nil {
		wh.badRequest(w, code, err)
		return
	}
	var in admissionReview
	if err := json.Unmarshal(body, &in); err != nil {
		wh.badRequest(w, http.StatusBadRequest, fmt.Errorf("decode the AdmissionReview: %w", err))
		return
	}
	out := admissionReview{TypeMeta: in.TypeMeta}
	switch in.TypeMeta {
	case reviewV1, metav1.TypeMeta{APIVersion: "admission.k8s.io/v1beta1", Kind: "AdmissionReview"}:
	case metav1.TypeMeta{}:
		out.TypeMeta = reviewV1
	default:
		wh.badRequest(w, http.StatusBadRequest, fmt.Errorf("got %s %s, want an AdmissionReview of admission.k8s.io/v1", in.APIVersion, in.Kind))
		return
	}
	var req admission.Request
	if in.Request != nil {
		req.AdmissionRequest = *in.Request
	}
	resp := wh.Handle(r.Context(), req)
	out.Response = &resp.AdmissionResponse
	writeReview(w, out)
}

// Handle admits req and completes the answer as ServeHTTP sends it: the
// request's UID, a status code, the encoded patch.
func (wh *Webhook) Handle(ctx context.Context, req admission.Request) admission.Response {
	resp := wh.h.Handle(ctx, req)
	if err := resp.Complete(req); err != nil {
		resp = admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode the patch: %w", err))
		resp.UID = req.UID
	}
	return resp
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
	b, err := json.Marshal(out)
	if err != nil {
		// Not expected: the patch is bytes already.
		http.Error(w, "encode the AdmissionReview: "+err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(b)
}
