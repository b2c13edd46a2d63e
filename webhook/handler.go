package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"slices"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tradepulse/secret-injector/injector"
)

// Path is where the pod mutation webhook is served.
const Path = "/mutate-pods"

// Mutator changes a pod in place. changed=false means the pod was left as it
// was (not opted in, or already injected); an error denies the pod with the
// error's message, which names the annotation at fault.
type Mutator interface {
	Mutate(pod *corev1.Pod) (changed bool, err error)
}

// MutatorFunc adapts a function to Mutator.
type MutatorFunc func(pod *corev1.Pod) (bool, error)

// Mutate calls f.
func (f MutatorFunc) Mutate(pod *corev1.Pod) (bool, error) { return f(pod) }

// Patcher is a Mutator that writes its own JSON patch: the operations that
// turn the pod as it arrived into the mutated pod, touching nothing else.
// Patch must leave pod unchanged; no operations means nothing to change.
// The handler then neither re-encodes the pod nor diffs it.
type Patcher interface {
	Patch(pod *corev1.Pod) ([]injector.Op, error)
}

// InjectorMutator is the production Mutator: injector.Inject with the
// cluster's options, and as its Patcher injector.Patch with the digest
// annotation (injector.Digester), which lets Webhook answer a pod that it
// injected and nobody changed since without decoding it (unchangedChecker).
func InjectorMutator(opts injector.Options) Mutator {
	// Invalid options: no digester; Patch then denies as Inject does.
	d, _ := injector.NewDigester(opts)
	return injectorMutator{opts: opts, digester: d}
}

type injectorMutator struct {
	opts     injector.Options
	digester *injector.Digester
}

var (
	_ Patcher          = injectorMutator{}
	_ unchangedChecker = injectorMutator{}
)

func (m injectorMutator) Mutate(pod *corev1.Pod) (bool, error) { return injector.Inject(pod, m.opts) }

func (m injectorMutator) Patch(pod *corev1.Pod) ([]injector.Op, error) {
	if m.digester == nil {
		return injector.Patch(pod, m.opts)
	}
	return m.digester.Patch(pod)
}

func (m injectorMutator) Unchanged(annotations map[string]string, spec []byte) bool {
	return m.digester != nil && m.digester.Unchanged(annotations, spec)
}

// unchangedChecker is a Patcher that can tell, from a pod's annotations
// and its spec's JSON alone, that its Patch would answer no operations
// (injector.Digester.Unchanged). False says nothing: the pod is decoded
// and patched.
type unchangedChecker interface {
	Unchanged(annotations map[string]string, spec []byte) bool
}

// Handler admits pods through a Mutator. It decodes the typed pod once and
// answers with the Mutator's own patch when it is a Patcher. Other Mutators
// change a copy, and the library computes the JSON patch from the raw
// request, so fields our Go types do not know survive untouched either way.
type Handler struct {
	mutator Mutator
	metrics *Metrics
	log     *slog.Logger
}

var _ admission.Handler = (*Handler)(nil)

// NewHandler builds the admission handler.
func NewHandler(m Mutator, metrics *Metrics, log *slog.Logger) *Handler {
	return &Handler{mutator: m, metrics: metrics, log: log}
}

// Handle implements admission.Handler.
func (h *Handler) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	start := time.Now()
	result := ResultError
	defer func() {
		if r := recover(); r != nil {
			// The panic value is not logged: it could quote the pod.
			h.log.Error("admission handler panicked", "uid", req.UID, "stack", string(debug.Stack()))
			resp = admission.Errored(http.StatusInternalServerError, errors.New("internal error in the secret injector"))
			result = ResultError
		}
		h.metrics.observe(result, time.Since(start))
	}()
	resp, result = h.handle(req)
	log := h.log.With("uid", req.UID, "namespace", req.Namespace, "name", podName(req), "result", result)
	switch result {
	case ResultDenied:
		log.Info("pod denied", "reason", resp.Result.Message)
	case ResultError:
		log.Warn("admission failed", "reason", resp.Result.Message)
	default:
		log.Debug("pod admitted", "patches", len(resp.Patches))
	}
	return resp
}

func podName(req admission.Request) string {
	if req.Name != "" {
		return req.Name
	}
	return "(generated)"
}

func (h *Handler) handle(req admission.Request) (admission.Response, string) {
	if req.Kind.Group != "" || req.Kind.Kind != "Pod" {
		return admission.Allowed("not a pod"), ResultSkipped
	}
	// Webhook decodes the pod with the review for a Patcher.
	pod, ok := req.Object.Object.(*corev1.Pod)
	if !ok {
		if len(req.Object.Raw) == 0 {
			return admission.Errored(http.StatusBadRequest, errors.New("admission request has no object")), ResultError
		}
		pod = &corev1.Pod{}
		if err := decodePod(req.Object.Raw, pod); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode pod: %w", err)), ResultError
		}
	}
	if p, ok := h.mutator.(Patcher); ok {
		ops, err := p.Patch(pod)
		if err != nil {
			return denial(err)
		}
		return patchResponse(ops)
	}
	original := pod.DeepCopy()
	changed, err := h.mutator.Mutate(pod)
	if err != nil {
		return denial(err)
	}
	if !changed || reflect.DeepEqual(original, pod) {
		return admission.Allowed(""), ResultSkipped
	}
	mutated, err := json.Marshal(pod)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode pod: %w", err)), ResultError
	}
	resp := admission.PatchResponseFromRaw(req.Object.Raw, mutated)
	if !resp.Allowed {
		return resp, ResultError
	}
	resp, err = dropDecodeRemovals(resp, original, req.Object.Raw)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err), ResultError
	}
	if len(resp.Patches) == 0 {
		return admission.Allowed(""), ResultSkipped
	}
	return resp, ResultInjected
}

// denial answers a Mutator's error: an annotation problem is the pod's
// fault, anything else the injector's.
func denial(err error) (admission.Response, string) {
	if _, ok := errors.AsType[*injector.AnnotationError](err); ok {
		return admission.Denied(err.Error()), ResultDenied
	}
	return admission.Denied(err.Error()), ResultError
}

// patchResponse admits the pod with a Patcher's operations.
func patchResponse(ops []injector.Op) (admission.Response, string) {
	if len(ops) == 0 {
		return admission.Allowed(""), ResultSkipped
	}
	patches := make([]jsonpatch.JsonPatchOperation, len(ops))
	for i, o := range ops {
		patches[i] = jsonpatch.JsonPatchOperation{Operation: o.Op, Path: o.Path, Value: o.Value}
	}
	pt := admissionv1.PatchTypeJSONPatch
	return admission.Response{Patches: patches, AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true, PatchType: &pt}}, ResultInjected
}

// decodePod decodes the pod of a request. The API server encodes it from
// its typed object, so the standard decoder, without the scheme's
// machinery (a first pass for apiVersion and kind, then the object), reads
// it as the API server wrote it.
func decodePod(raw []byte, pod *corev1.Pod) error {
	return json.Unmarshal(raw, pod)
}

// dropDecodeRemovals keeps only the removals the Mutator made. Decoding into
// Go types loses fields they do not know (and normalises others); diffing
// the re-encoded pod against the raw request would then remove those
// fields. The removals that decoding alone causes are taken out, as
// controller-runtime's defaulter does.
func dropDecodeRemovals(r admission.Response, original *corev1.Pod, raw []byte) (admission.Response, error) {
	const opRemove = "remove"
	isRemove := func(o jsonpatch.JsonPatchOperation) bool { return o.Operation == opRemove }
	if !slices.ContainsFunc(r.Patches, isRemove) {
		return r, nil
	}
	encoded, err := json.Marshal(original)
	if err != nil {
		return r, fmt.Errorf("encode pod: %w", err)
	}
	byDecoding, err := jsonpatch.CreatePatch(raw, encoded)
	if err != nil {
		return r, fmt.Errorf("diff decoded pod: %w", err)
	}
	r.Patches = slices.DeleteFunc(r.Patches, func(p jsonpatch.JsonPatchOperation) bool {
		return isRemove(p) && slices.ContainsFunc(byDecoding, func(d jsonpatch.JsonPatchOperation) bool {
			return isRemove(d) && d.Path == p.Path
		})
	})
	if len(r.Patches) == 0 {
		r.PatchType = nil
	}
	return r, nil
}
