package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tradepulse/secret-injector/injector"
)

// testInjectorOptions are cluster defaults a real chart would set.
func testInjectorOptions() injector.Options {
	return injector.Options{
		DefaultBackend:  "vault",
		EnabledBackends: []string{"vault", "gcp", "aws", "env"},
		AgentImage:      "ghcr.io/tradepulse/secret-injector:v0.1.0",
		NativeSidecars:  true,
		Vault:           injector.VaultDefaults{Address: "https://vault.vault.svc:8200", Role: "default"},
		GCPProject:      "tradepulse-test",
		AWSRegion:       "eu-west-1",
	}
}

// testPod is an opted-in pod; tweak changes one thing.
func testPod(tweak func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      "ledger",
			Namespace: "trading",
			Annotations: map[string]string{
				injector.AnnotationInject:              "true",
				injector.AnnotationSecretPrefix + "db": "database/creds/ledger-rw",
			},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "ledger",
			Containers:         []corev1.Container{{Name: "ledger", Image: "ghcr.io/tradepulse/ledger:2.0.0"}},
		},
	}
	if tweak != nil {
		tweak(p)
	}
	return p
}

func podRequest(t testing.TB, raw []byte) admission.Request {
	t.Helper()
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       types.UID("uid-1"),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: "trading",
		Name:      "ledger",
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// applyPatch applies the response's patch to raw, as the API server does.
func applyPatch(t testing.TB, raw []byte, resp admission.Response) []byte {
	t.Helper()
	if len(resp.Patches) == 0 {
		return raw
	}
	p, err := jsonpatch.DecodePatch(mustJSON(t, resp.Patches))
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("apply patch: %v", err)
	}
	return out
}

func newTestHandler(m Mutator) (*Handler, *Metrics, *bytes.Buffer) {
	var logs bytes.Buffer
	metrics := NewMetrics(prometheus.NewRegistry())
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return NewHandler(m, metrics, log), metrics, &logs
}

func TestHandle(t *testing.T) {
	inject := InjectorMutator(testInjectorOptions())
	tests := []struct {
		name        string
		mutator     Mutator
		raw         func(t *testing.T) []byte
		kind        string
		wantAllowed bool
		wantResult  string
		wantCode    int32  // of a refusal
		wantMessage string // part of the refusal message
		check       func(t *testing.T, mutated *corev1.Pod)
	}{
		{
			name:        "opted-in pod is injected",
			mutator:     inject,
			raw:         func(t *testing.T) []byte { return mustJSON(t, testPod(nil)) },
			wantAllowed: true,
			wantResult:  ResultInjected,
			check: func(t *testing.T, p *corev1.Pod) {
				var names []string
				for _, c := range p.Spec.InitContainers {
					names = append(names, c.Name)
				}
				if diff := cmp.Diff([]string{injector.SidecarName}, names); diff != "" {
					t.Errorf("init containers (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:        "pod without the annotation is untouched",
			mutator:     inject,
			raw:         func(t *testing.T) []byte { return mustJSON(t, testPod(func(p *corev1.Pod) { p.Annotations = nil })) },
			wantAllowed: true,
			wantResult:  ResultSkipped,
		},
		{
			name:    "invalid annotation is denied naming it",
			mutator: inject,
			raw: func(t *testing.T) []byte {
				return mustJSON(t, testPod(func(p *corev1.Pod) { p.Annotations[injector.AnnotationMode] = "sometimes" }))
			},
			wantResult:  ResultDenied,
			wantCode:    http.StatusForbidden,
			wantMessage: "annotation " + injector.AnnotationMode + ":",
		},
		{
			name:    "fields unknown to our types survive",
			mutator: inject,
			raw: func(t *testing.T) []byte {
				var m map[string]any
				if err := json.Unmarshal(mustJSON(t, testPod(nil)), &m); err != nil {
					t.Fatal(err)
				}
				m["spec"].(map[string]any)["futureField"] = map[string]any{"kept": true}
				return mustJSON(t, m)
			},
			wantAllowed: true,
			wantResult:  ResultInjected,
		},
		{
			name:        "not a pod",
			mutator:     inject,
			kind:        "Deployment",
			raw:         func(t *testing.T) []byte { return []byte(`{}`) },
			wantAllowed: true,
			wantResult:  ResultSkipped,
		},
		{
			name:        "undecodable object",
			mutator:     inject,
			raw:         func(t *testing.T) []byte { return []byte(`{"spec": 7}`) },
			wantResult:  ResultError,
			wantCode:    http.StatusBadRequest,
			wantMessage: "decode pod",
		},
		{
			name:        "mutator failure that is not an annotation problem",
			mutator:     MutatorFunc(func(*corev1.Pod) (bool, error) { return false, errors.New("injector: nil pod") }),
			raw:         func(t *testing.T) []byte { return mustJSON(t, testPod(nil)) },
			wantResult:  ResultError,
			wantCode:    http.StatusForbidden,
			wantMessage: "injector: nil pod",
		},
		{
			name:        "mutator panic",
			mutator:     MutatorFunc(func(*corev1.Pod) (bool, error) { panic("boom") }),
			raw:         func(t *testing.T) []byte { return mustJSON(t, testPod(nil)) },
			wantResult:  ResultError,
			wantCode:    http.StatusInternalServerError,
			wantMessage: "internal error",
		},
		{
			name:        "mutator claims a change but makes none",
			mutator:     MutatorFunc(func(*corev1.Pod) (bool, error) { return true, nil }),
			raw:         func(t *testing.T) []byte { return mustJSON(t, testPod(nil)) },
			wantAllowed: true,
			wantResult:  ResultSkipped,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, metrics, _ := newTestHandler(tc.mutator)
			raw := tc.raw(t)
			req := podRequest(t, raw)
			if tc.kind != "" {
				req.Kind.Kind = tc.kind
			}
			resp := h.Handle(context.Background(), req)
			if resp.Allowed != tc.wantAllowed {
				t.Fatalf("Allowed = %v, want %v (result %+v)", resp.Allowed, tc.wantAllowed, resp.Result)
			}
			if !resp.Allowed {
				if resp.Result == nil || resp.Result.Code != tc.wantCode || !strings.Contains(resp.Result.Message, tc.wantMessage) {
					t.Errorf("refusal = %+v, want code %d and a message with %q", resp.Result, tc.wantCode, tc.wantMessage)
				}
			}
			if got := testutil.ToFloat64(metrics.admissions.WithLabelValues(tc.wantResult)); got != 1 {
				t.Errorf("admissions_total{result=%q} = %v, want 1", tc.wantResult, got)
			}
			if tc.wantResult != ResultInjected && len(resp.Patches) > 0 {
				t.Errorf("result %s carries patches: %v", tc.wantResult, resp.Patches)
			}
			if tc.wantResult != ResultInjected {
				return
			}
			out := applyPatch(t, raw, resp)
			for _, p := range resp.Patches {
				if p.Operation == "remove" {
					t.Errorf("injection removed %s", p.Path)
				}
			}
			var mutated corev1.Pod
			if err := json.Unmarshal(out, &mutated); err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, &mutated)
			}
			// Idempotent: the injected pod passes through unchanged.
			h2, m2, _ := newTestHandler(tc.mutator)
			again := h2.Handle(context.Background(), podRequest(t, out))
			if !again.Allowed || len(again.Patches) != 0 {
				t.Errorf("re-admitting the injected pod: allowed=%v patches=%v", again.Allowed, again.Patches)
			}
			if got := testutil.ToFloat64(m2.admissions.WithLabelValues(ResultSkipped)); got != 1 {
				t.Errorf("re-admission result: skipped = %v, want 1", got)
			}
		})
	}
}

// TestHandleNeverLogsReferencesOrTemplates feeds a sentinel through the
// annotations that carry user data on every path (injected, denied) and
// checks neither logs nor responses repeat it beyond the pod itself.
func TestHandleNeverLogsReferencesOrTemplates(t *testing.T) {
	const sentinel = "S3NTINEL-7f1c"
	cases := map[string]func(*corev1.Pod){
		"injected": func(p *corev1.Pod) {
			p.Annotations[injector.AnnotationSecretPrefix+"api"] = "tradepulse/" + sentinel
		},
		"denied by a bad template": func(p *corev1.Pod) {
			p.Annotations[injector.AnnotationSecretPrefix+"cfg"] = "tradepulse/mlflow"
			p.Annotations[injector.AnnotationFormatPrefix+"cfg"] = "template"
			p.Annotations[injector.AnnotationTemplatePrefix+"cfg"] = "{{ .Broken " + sentinel
		},
		"denied by a bad reference": func(p *corev1.Pod) {
			p.Annotations[injector.AnnotationSecretPrefix+"api"] = "../" + sentinel + "\n"
		},
	}
	for name, tweak := range cases {
		t.Run(name, func(t *testing.T) {
			h, _, logs := newTestHandler(InjectorMutator(testInjectorOptions()))
			resp := h.Handle(context.Background(), podRequest(t, mustJSON(t, testPod(tweak))))
			if strings.Contains(logs.String(), sentinel) {
				t.Errorf("logs contain the sentinel:\n%s", logs.String())
			}
			if resp.Result != nil && strings.Contains(resp.Result.Message, sentinel) {
				t.Errorf("response message contains the sentinel: %s", resp.Result.Message)
			}
		})
	}
}

func TestHandlePanicValueNotLogged(t *testing.T) {
	h, _, logs := newTestHandler(MutatorFunc(func(*corev1.Pod) (bool, error) { panic("value-in-panic") }))
	h.Handle(context.Background(), podRequest(t, mustJSON(t, testPod(nil))))
	if strings.Contains(logs.String(), "value-in-panic") {
		t.Errorf("the panic value reached the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "admission handler panicked") {
		t.Errorf("the panic was not logged:\n%s", logs.String())
	}
}
