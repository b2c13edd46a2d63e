package webhook

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/injector"
)

// hugePod is issue #13's pod: 37,000 unknown keys under our prefix, ~3 MB
// of annotations, which the API server would refuse only after admission.
func hugePod() *corev1.Pod {
	return testPod(func(p *corev1.Pod) {
		v := strings.Repeat("v", 50)
		for i := range 37000 {
			p.Annotations[fmt.Sprintf("%sunknown-key-%06d", injector.Prefix, i)] = v
		}
	})
}

// BenchmarkHandleHugePod: the admission of the huge pod, from the decoded
// AdmissionReview to the denial. The injector now denies it in one pass over
// the keys (injector.BenchmarkInjectHugePod: ~3 ms, 16 allocations); what is
// left is decoding the 3 MB pod (~200 ms of one core, ~15 MB), bounded per
// request by the body limit and across requests by the admission limits of
// the server (see server.go).
func BenchmarkHandleHugePod(b *testing.B) {
	h, _, _ := newTestHandler(InjectorMutator(testInjectorOptions()))
	req := podRequest(b, mustJSON(b, hugePod()))
	b.ReportAllocs()
	for b.Loop() {
		if resp := h.Handle(context.Background(), req); resp.Allowed {
			b.Fatal("allowed")
		}
	}
}
