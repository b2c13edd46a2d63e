package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/webhook"
)

// BenchmarkAdmission is one admission of the realistic pod through the
// whole http.Handler (AdmissionReview decode, handler, encode), for our
// handler and the no-op one: allocations per admission with -benchmem, and
// cpu-ns/op, the process's CPU time (user+system, GC included) per
// admission, which a loaded machine does not inflate as it does ns/op.
// "ours-injected" admits the pod as the first admission returned it, as a
// reinvoked webhook sees it when the webhooks after it changed nothing the
// digest covers (answered from the digest); "ours-reinvoked" the same pod
// with a container another webhook added after ours (the digest does not
// match: decoded and patched in full, which answers no patch, as the
// pod's secrets go to "ledger" only).
func BenchmarkAdmission(b *testing.B) {
	bodies := map[string][]byte{}
	var err error
	if bodies["ours"], err = reviewBody(benchPod()); err != nil {
		b.Fatal(err)
	}
	bodies["noop"] = bodies["ours"]
	if bodies["ours-injected"], err = reviewBody(injectedBenchPod(b)); err != nil {
		b.Fatal(err)
	}
	if bodies["ours-reinvoked"], err = reviewBody(reinvokedBenchPod(b)); err != nil {
		b.Fatal(err)
	}
	cases := []struct{ name, handler string }{{"ours", "ours"}, {"noop", "noop"}, {"ours-injected", "ours"}, {"ours-reinvoked", "ours"}}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := newHandler(c.handler)
			body := bodies[c.name]
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			cpu0 := cpuTime(b)
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// admit posts body to our handler and returns the response.
func admit(tb testing.TB, body []byte) *admissionv1.AdmissionResponse {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	newHandler("ours").ServeHTTP(rec, req)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		tb.Fatalf("not an AdmissionReview (%v): %.300s", err, rec.Body.String())
	}
	return out.Response
}

// injectedBenchPod is the bench pod as its first admission returned it.
func injectedBenchPod(tb testing.TB) *corev1.Pod {
	tb.Helper()
	body, err := reviewBody(benchPod())
	if err != nil {
		tb.Fatal(err)
	}
	resp := admit(tb, body)
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := json.Marshal(benchPod())
	if err != nil {
		tb.Fatal(err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		tb.Fatal(err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(out, &pod); err != nil {
		tb.Fatal(err)
	}
	return &pod
}

// reinvokedBenchPod is the injected bench pod after another webhook added
// a container.
func reinvokedBenchPod(tb testing.TB) *corev1.Pod {
	pod := injectedBenchPod(tb)
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "mesh-proxy", Image: "mesh/proxy:1.0"})
	return pod
}

// TestReviewInjects makes sure the benchmark measures an injection, not a
// skip or a denial: the pod must come back allowed with a patch, the
// injected pod and the reinvoked one allowed without one.
func TestReviewInjects(t *testing.T) {
	body, err := reviewBody(benchPod())
	if err != nil {
		t.Fatal(err)
	}
	if resp := admit(t, body); !resp.Allowed || len(resp.Patch) == 0 {
		t.Fatalf("want an allowed review with a patch, got %+v", resp)
	}
	again, err := reviewBody(injectedBenchPod(t))
	if err != nil {
		t.Fatal(err)
	}
	if resp := admit(t, again); !resp.Allowed || len(resp.Patch) != 0 {
		t.Fatalf("want the injected pod allowed without a patch, got %+v", resp)
	}
	reinvoked, err := reviewBody(reinvokedBenchPod(t))
	if err != nil {
		t.Fatal(err)
	}
	// The bench pod mounts the secrets in "ledger" only: the added
	// container gets nothing, so the full path answers no patch.
	if resp := admit(t, reinvoked); !resp.Allowed || len(resp.Patch) != 0 {
		t.Fatalf("want the reinvoked pod allowed without a patch, got %+v", resp)
	}
}
