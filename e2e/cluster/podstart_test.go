package cluster

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/clusterbed"
)

// BenchmarkPodStart is what a user sees of injection: pod create → Ready on
// the real node, the same app pod with and without the agent (one secret
// from the Secret Manager protocol server). It reports the median and the
// spread of b.N pods, created one after another:
//
//	make bench-cluster   # -benchtime 10x
func BenchmarkPodStart(b *testing.B) {
	s := need(b)
	rb := bed.NewRunbook("bench")
	backend := s.Bed.Backends["gcp"]
	for _, injected := range []bool{false, true} {
		name := "plain"
		if injected {
			name = "injected"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			ns := s.benchNamespace(b)
			w := clusterbed.Workload{Name: "start", Namespace: ns}
			if injected {
				if err := backend.Put(ctx, rb.KeyPath(), []byte(rb.APIKey), false); err != nil {
					b.Fatal(err)
				}
				w.Backend = backend
				w.Annotations = map[string]string{"secret-" + rb.KeyFile(): backend.Ref(rb.KeyPath(), false)}
			}
			d, err := s.Deployment(ctx, w)
			if err != nil {
				b.Fatal(err)
			}
			var took []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pod := &corev1.Pod{ObjectMeta: d.Spec.Template.ObjectMeta, Spec: d.Spec.Template.Spec}
				pod.Name = fmt.Sprintf("start-%d", i)
				pod.Namespace = ns
				dt, err := s.createToReady(ctx, pod)
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, dt)
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "median-ms")
			b.ReportMetric(float64(took[0].Milliseconds()), "min-ms")
			b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
		})
	}
}

// createToReady creates pod and returns how long it took to be Ready.
func (s *suite) createToReady(ctx context.Context, pod *corev1.Pod) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pods := s.Client.CoreV1().Pods(pod.Namespace)
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", pod.Name).String()})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	start := time.Now()
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return 0, err
	}
	seen := map[string]time.Duration{"admitted": time.Since(start)}
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			return 0, fmt.Errorf("watch: %v", ev.Object)
		}
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		noteMilestones(p, time.Since(start), seen)
		if clusterbed.IsReady(*p) {
			if testing.Verbose() {
				fmt.Printf("%s: %s\n", pod.Name, milestones(seen))
			}
			return time.Since(start), nil
		}
	}
	return 0, fmt.Errorf("pod %s not Ready: %w", pod.Name, ctx.Err())
}

func (s *suite) benchNamespace(b *testing.B) string {
	ctx := context.Background()
	ns, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-start-"}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	// The next sub-benchmark starts on a quiet node: its pods must not
	// start while these are being torn down (that once made a "first
	// injected pod" look several seconds slow).
	b.Cleanup(func() {
		ctx := context.Background()
		_ = s.Client.CoreV1().Pods(ns.Name).DeleteCollection(ctx, *metav1.NewDeleteOptions(0), metav1.ListOptions{})
		_ = s.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		_ = poll(ctx, 2*time.Minute, func() (bool, error) {
			list, err := s.Client.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{})
			return err == nil && len(list.Items) == 0, nil
		})
	})
	if _, err := s.Client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: bed.PodServiceAccount}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	return ns.Name
}

// noteMilestones records when the watch first showed each pod condition
// true and each container running, started or terminated, so that a slow start says which step
// took the time (the API's timestamps are whole seconds).
func noteMilestones(p *corev1.Pod, at time.Duration, seen map[string]time.Duration) {
	note := func(key string) {
		if _, ok := seen[key]; !ok {
			seen[key] = at
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status == corev1.ConditionTrue {
			note(string(c.Type))
		}
	}
	for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		switch {
		case cs.State.Terminated != nil:
			note(cs.Name + " exited")
		case cs.State.Running != nil && cs.Started != nil && *cs.Started:
			note(cs.Name + " started")
		case cs.State.Running != nil:
			note(cs.Name + " running")
		}
	}
}

func milestones(seen map[string]time.Duration) string {
	keys := slices.SortedFunc(maps.Keys(seen), func(a, b string) int { return cmp.Compare(seen[a], seen[b]) })
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %dms; ", k, seen[k].Milliseconds())
	}
	return b.String()
}
