package chaos

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/clusterbed"
	"github.com/tradepulse/secret-injector/injector"
)

// 1,000 opted-in pods admitted (server-side dry run: the API server calls
// the webhook and stores nothing), 16 at a time.
func TestThousandAdmissions(t *testing.T) {
	s := need(t)
	r := s.record(t, "1,000 pod admissions, 16 at a time",
		"no error; every answer injected")
	ctx := vaulttest.Context(t, 8*time.Minute)
	ns := s.newNamespace(t, "admit")
	b := s.Bed.Backends["gcp"]
	rb := bed.NewRunbook("okx")
	d, err := s.Deployment(ctx, clusterbed.Workload{Name: "load", Namespace: ns, Backend: b, Annotations: rb.Annotations(b, "5m")})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "load-", Namespace: ns, Annotations: d.Spec.Template.Annotations, Labels: d.Spec.Template.Labels}, Spec: d.Spec.Template.Spec}
	const total, workers = 1000, 16
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      []string
		plain     int
	)
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for range jobs {
				t0 := time.Now()
				got, err := s.Client.CoreV1().Pods(ns).Create(ctx, pod.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				took := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, took)
				switch {
				case err != nil:
					errs = append(errs, err.Error())
				case !clusterbed.AgentsInjected(*got):
					plain++
				}
				mu.Unlock()
			}
		})
	}
	for range total {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	p := func(q float64) time.Duration {
		return latencies[int(q*float64(len(latencies)-1))].Round(100 * time.Microsecond)
	}
	r.saw(t, "%d admissions in %s: %.0f/s, p50 %s, p99 %s (API server round trip), %d errors, %d not injected",
		total, elapsed.Round(100*time.Millisecond), float64(total)/elapsed.Seconds(), p(0.5), p(0.99), len(errs), plain)
	if len(errs) > 0 {
		t.Errorf("%d of %d admissions failed; first: %s", len(errs), total, errs[0])
	}
	if plain > 0 {
		t.Errorf("%d of %d answers were not injected", plain, total)
	}
}

// Both webhook replicas down: an opted-in pod is refused with a message
// that names the webhook; a pod that did not opt in is admitted and runs.
func TestWebhookDown(t *testing.T) {
	s := need(t)
	r := s.record(t, "both webhook replicas down",
		"an opted-in pod is refused with a message naming the webhook; a pod that did not opt in is created and runs")
	ctx := vaulttest.Context(t, 6*time.Minute)
	ns := s.newNamespace(t, "down")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		_, _ = s.Kubectl(ctx, "-n", clusterbed.ChartNS, "scale", "deployment/"+clusterbed.Release, "--replicas=2")
		if err := s.WaitWebhook(ctx); err != nil {
			t.Errorf("the webhook did not come back: %v", err)
		}
	})
	if out, err := s.Kubectl(ctx, "-n", clusterbed.ChartNS, "scale", "deployment/"+clusterbed.Release, "--replicas=0"); err != nil {
		t.Fatalf("scale the webhook to 0: %v\n%s", err, out)
	}
	if err := clusterbed.Poll(ctx, 2*time.Minute, func() (bool, error) {
		l, err := s.Client.CoreV1().Pods(clusterbed.ChartNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=secret-injector"})
		return err == nil && len(l.Items) == 0, nil
	}); err != nil {
		t.Fatalf("webhook pods still there: %v", err)
	}
	b := s.Bed.Backends["gcp"]
	rb := bed.NewRunbook("bitstamp")
	if err := rb.Provision(ctx, b); err != nil {
		t.Fatal(err)
	}
	opted, err := s.Deployment(ctx, clusterbed.Workload{Name: "opted", Namespace: ns, Backend: b, Annotations: rb.Annotations(b, "5m")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "opted-", Namespace: ns, Annotations: opted.Spec.Template.Annotations}, Spec: opted.Spec.Template.Spec}, metav1.CreateOptions{})
	if err == nil {
		t.Fatal("an opted-in pod was created with both webhook replicas down")
	}
	r.saw(t, "opted-in pod refused: %q", shorten(err.Error(), 160))
	if !strings.Contains(err.Error(), "secrets.tradepulse.io") {
		t.Errorf("the refusal does not name the webhook: %v", err)
	}
	plain, err := s.Deployment(ctx, clusterbed.Workload{Name: "plain", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.AppsV1().Deployments(ns).Create(ctx, plain, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitAvailable(ctx, ns, "plain", 2*time.Minute); err != nil {
		t.Fatalf("a pod that did not opt in did not run: %v", err)
	}
	r.saw(t, "plain pod created and ready")
}

// One webhook replica killed while a Deployment creates 100 pods: every
// pod that exists is injected and every running one has its secret. Then
// 50 of them stay, and their agents' memory is read from the kubelet.
func TestWebhookReplicaKilledDuringRollout(t *testing.T) {
	s := need(t)
	r := s.record(t, "one webhook replica killed during a rollout of 100 pods",
		"every pod is injected (or refused and retried); none runs without its secrets; the webhook is back to 2 replicas")
	ctx := vaulttest.Context(t, 12*time.Minute)
	ns := s.newNamespace(t, "rollout")
	b := s.Bed.Backends["gcp"]
	rb := bed.NewRunbook("kraken")
	if err := rb.Provision(ctx, b); err != nil {
		t.Fatal(err)
	}
	for _, v := range rb.Values() {
		s.secret(v)
	}
	w := clusterbed.Workload{Name: "fleet", Namespace: ns, Backend: b, Annotations: rb.Annotations(b, "5m"), Replicas: 100}
	d, err := s.Deployment(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := s.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	hooks, err := s.Client.CoreV1().Pods(clusterbed.ChartNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=secret-injector"})
	if err != nil || len(hooks.Items) == 0 {
		t.Fatalf("webhook pods: %v (%d)", err, len(hooks.Items))
	}
	victim := hooks.Items[0].Name
	if err := s.Client.CoreV1().Pods(clusterbed.ChartNS).Delete(ctx, victim, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	pods, err := s.WaitAvailable(ctx, ns, "fleet", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r.saw(t, "killed %s 2 s in; 100 pods available in %s", victim, time.Since(start).Round(time.Second))
	all, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all.Items {
		if !clusterbed.AgentsInjected(p) {
			t.Errorf("pod %s exists without the agent", p.Name)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	missing := 0
	for _, p := range pods {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			files, err := clusterbed.AppFiles(ctx, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || files[rb.KeyFile()].SHA256 != clusterbed.SHA256(rb.APIKey) {
				missing++
				t.Errorf("pod %s runs without its api key (%v)", p.Name, err)
			}
		})
	}
	wg.Wait()
	r.saw(t, "%d pods exist, all injected; %d running without their secrets", len(all.Items), missing)
	if err := s.WaitWebhook(ctx); err != nil {
		t.Errorf("the webhook did not come back to two replicas: %v", err)
	}

	// 50 injected pods on the node: what their agents cost.
	if _, err := s.Kubectl(ctx, "-n", ns, "scale", "deployment/fleet", "--replicas=50"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitAvailable(ctx, ns, "fleet", 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	// Let the terminated pods go and the kubelet's stats settle.
	if err := clusterbed.Poll(ctx, 5*time.Minute, func() (bool, error) {
		l, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 50, nil
	}); err != nil {
		t.Errorf("pods of the scale-down still terminating: %v", err)
	}
	time.Sleep(15 * time.Second)
	n, total, peak, err := s.agentMemory(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	r.saw(t, "50 pods kept: their %d agents' working set %.1f MiB in all, %.1f MiB mean, %.1f MiB max (limit 64 MiB)", n, total, total/float64(n), peak)
	if n != 50 {
		t.Errorf("the kubelet reports %d agents, want 50", n)
	}
}

// agentMemory reads the sidecar agents' working sets in ns from the
// kubelet's summary API: how many, their sum and their max, in MiB.
func (s *suite) agentMemory(ctx context.Context, ns string) (n int, total, peak float64, err error) {
	raw, err := s.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", nodeName(), "proxy/stats/summary").DoRaw(ctx)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("kubelet stats summary: %w", err)
	}
	var summary struct {
		Pods []struct {
			PodRef struct {
				Namespace string `json:"namespace"`
			} `json:"podRef"`
			Containers []struct {
				Name   string `json:"name"`
				Memory struct {
					WorkingSetBytes float64 `json:"workingSetBytes"`
				} `json:"memory"`
			} `json:"containers"`
		} `json:"pods"`
	}
	if err := json.Unmarshal(raw, &summary); err != nil {
		return 0, 0, 0, err
	}
	for _, p := range summary.Pods {
		if p.PodRef.Namespace != ns {
			continue
		}
		for _, c := range p.Containers {
			if c.Name == injector.SidecarName {
				mib := c.Memory.WorkingSetBytes / (1 << 20)
				n, total, peak = n+1, total+mib, max(peak, mib)
			}
		}
	}
	return n, total, peak, nil
}

// nodeName is the cluster's one node (hack/cluster.sh env).
func nodeName() string { return cmp.Or(os.Getenv("SI_CLUSTER_NODE"), "si-node") }

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
