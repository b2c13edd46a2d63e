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
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
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

// InjectorMutator is the production Mutator: injector.Inject with the
// cluster's options.
func InjectorMutator(opts injector.Options) Mutator {
	return MutatorFunc(func(pod *corev1.Pod) (bool, error) { return injector.Inject(pod, opts) })
}

// Handler admits pods through a Mutator. It decodes the typed pod, lets the
// Mutator change a copy, and lets the library compute the JSON patch from the
// raw request, so fields our Go types do not know survive untouched.
type Handler struct {
	mutator Mutator
	decoder admission.Decoder
	metrics *Metrics
	log     *slog.Logger
}

var _ admission.Handler = (*Handler)(nil)

// NewHandler builds the admission handler.
func NewHandler(m Mutator, metrics *Metrics, log *slog.Logger) *Handler {
	return &Handler{mutator: m, decoder: admission.NewDecoder(scheme()), metrics: metrics, log: log}
}

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	// client-go's scheme registration only fails on programmer error.
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Webhook wraps the handler as an http.Handler speaking AdmissionReview.
func (h *Handler) Webhook() *admission.Webhook {
	return &admission.Webhook{Handler: h}
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
	if len(req.Object.Raw) == 0 {
		return admission.Errored(http.StatusBadRequest, errors.New("admission request has no object")), ResultError
	}
	pod := &corev1.Pod{}
	if err := h.decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode pod: %w", err)), ResultError
	}
	original := pod.DeepCopy()
	changed, err := h.mutator.Mutate(pod)
	if err != nil {
		if _, ok := errors.AsType[*injector.AnnotationError](err); ok {
			return admission.Denied(err.Error()), ResultDenied
		}
		return admission.Denied(err.Error()), ResultError
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
