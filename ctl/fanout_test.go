package ctl

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFanoutInterrupted: after Ctrl-C the pods not yet started are
// reported as failed, not silently dropped; the running one finishes.
func TestFanoutInterrupted(t *testing.T) {
	var pods []*corev1.Pod
	for _, name := range []string{"a", "b", "c"} {
		pods = append(pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var progress strings.Builder
	f := fanout{limit: 1, progress: &progress, timeout: func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithCancel(ctx)
	}}
	got := f.run(ctx, pods, func(context.Context, *corev1.Pod) PodReport {
		cancel() // the interrupt arrives while the first pod is worked on
		return PodReport{Outcome: OutcomeOK, Detail: "done"}
	})
	want := []PodReport{
		{Namespace: "ns", Pod: "a", Outcome: OutcomeOK, Detail: "done"},
		{Namespace: "ns", Pod: "b", Outcome: OutcomeFailed, Detail: "not started: context canceled"},
		{Namespace: "ns", Pod: "c", Outcome: OutcomeFailed, Detail: "not started: context canceled"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("reports (-want +got):\n%s", d)
	}
	if d := cmp.Diff("[1/3] ns/a: done\n", progress.String()); d != "" {
		t.Errorf("progress (-want +got):\n%s", d)
	}
}
