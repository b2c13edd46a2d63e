package webhook

import (
	"bytes"
	"encoding/json"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tradepulse/secret-injector/injector"
)

// Outcomes of a digest check, the values of the outcome label.
const (
	// DigestMatch: the pod is as this process injected it; answered
	// without decoding it.
	DigestMatch = "match"
	// DigestMismatch: the pod carries a digest that does not match (it
	// changed, or another replica or an earlier process wrote it); the
	// full path answered.
	DigestMismatch = "mismatch"
)

// digestKeyJSON is the digest annotation's key as the API server encodes
// it. A review without it is decoded at once for the full path, so that a
// first admission pays one search of its bytes and nothing more.
var digestKeyJSON = []byte(`"` + injector.AnnotationDigest + `"`)

// digestReview is an AdmissionReview decoded for the digest check: of the
// pod, only its annotations, and its spec's JSON as it arrived (the digest
// covers those bytes).
type digestReview struct {
	metav1.TypeMeta `json:",inline"`
	Request         *struct {
		admissionv1.AdmissionRequest
		// Object hides AdmissionRequest.Object.
		Object *struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
			Spec json.RawMessage `json:"spec"`
		} `json:"object"`
	} `json:"request,omitempty"`
}

// unchanged decodes a review whose pod carries the digest annotation and
// checks it. ok means the pod is one this process injected, unchanged
// since, and req is the request without its object; otherwise the full
// path decodes and patches the pod, which stays the source of truth.
func (wh *Webhook) unchanged(body []byte) (req admission.Request, reviewType metav1.TypeMeta, ok bool) {
	c, isChecker := wh.h.mutator.(unchangedChecker)
	if !isChecker || !bytes.Contains(body, digestKeyJSON) {
		return req, reviewType, false
	}
	var in digestReview
	if err := json.Unmarshal(body, &in); err != nil || in.Request == nil || in.Request.Object == nil {
		return req, reviewType, false
	}
	r := in.Request
	if r.Kind.Group != "" || r.Kind.Kind != "Pod" {
		return req, reviewType, false
	}
	if !c.Unchanged(r.Object.Metadata.Annotations, r.Object.Spec) {
		wh.h.metrics.digestChecked(DigestMismatch)
		return req, reviewType, false
	}
	wh.h.metrics.digestChecked(DigestMatch)
	req.AdmissionRequest = r.AdmissionRequest
	return req, in.TypeMeta, true
}

// answerUnchanged admits a pod the digest found unchanged, as Handle
// would: allowed, no patch, result skipped.
func (wh *Webhook) answerUnchanged(req admission.Request, start time.Time) admission.Response {
	resp := admission.Allowed("")
	// Complete fails only on a patch to encode; there is none.
	_ = resp.Complete(req)
	resp.UID = req.UID
	wh.h.metrics.observe(ResultSkipped, time.Since(start))
	wh.h.log.Debug("pod admitted", "uid", req.UID, "namespace", req.Namespace, "name", podName(req),
		"result", ResultSkipped, "patches", 0, "digest", DigestMatch)
	return resp
}
