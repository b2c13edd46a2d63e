package cluster

import (
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/clusterbed"
	"github.com/tradepulse/secret-injector/injector"
)

// Denial: a Deployment whose pods carry a bad annotation gets no pod; the
// ReplicaSet shows the webhook's reason, naming the key, in kubectl
// describe.
func TestDenial(t *testing.T) {
	s := need(t)
	ctx := testContext(t, 2*time.Minute)
	ns := s.newNamespace(t, "real-denial")
	b := s.Bed.Backends["gcp"]
	ann := map[string]string{"secret-Bad_Name": "tradepulse/exchanges/binance/api-key"}
	d, err := s.Deployment(ctx, clusterbed.Workload{Name: "denied", Namespace: ns, Backend: b, Annotations: ann})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var out string
	if err := poll(ctx, time.Minute, func() (bool, error) {
		out, _ = s.Kubectl(ctx, "-n", ns, "describe", "rs", "-l", "app=denied")
		return strings.Contains(out, "FailedCreate"), nil
	}); err != nil {
		t.Fatalf("the ReplicaSet shows no FailedCreate: %v\n%s", err, out)
	}
	t.Logf("kubectl describe rs:\n%s", out)
	for _, want := range []string{"denied the request", injector.AnnotationSecretPrefix + "Bad_Name"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe rs does not say %q", want)
		}
	}
	pods, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 0 {
		t.Errorf("%d pods exist for a denied template", len(pods.Items))
	}
}

// Rollout restart: an app that cannot reload (reload: restart) is rolled
// by `secret-injector refresh`, and its new pod has the new value.
func TestRolloutRestart(t *testing.T) {
	s := need(t)
	ctx := testContext(t, 4*time.Minute)
	ns := s.newNamespace(t, "real-restart")
	b := s.Bed.Backends["gcp"]
	rb := bed.NewRunbook("coinbase")
	provision(t, ctx, rb, b)
	ann := rb.Annotations(b, "1h") // the sidecar alone would not see the change for an hour
	ann["reload"] = "restart"
	pods := s.deploy(t, ctx, clusterbed.Workload{Name: "legacy", Namespace: ns, Backend: b, Annotations: ann}, 3*time.Minute)
	old := pods[0].Name
	rotated := "ak-restart-" + bed.Token()
	s.watchForLeaks(t, rotated)
	if err := b.Put(ctx, rb.KeyPath(), []byte(rotated), false); err != nil {
		t.Fatal(err)
	}
	out, err := s.CLI(ctx, "refresh", "-n", ns, "-l", "app=legacy")
	if err != nil {
		t.Fatalf("secret-injector refresh: %v\n%s", err, out)
	}
	t.Logf("secret-injector refresh:\n%s", out)
	var fresh []corev1.Pod
	if err := poll(ctx, 2*time.Minute, func() (bool, error) {
		fresh = s.running(t, ctx, ns, "legacy")
		return len(fresh) == 1 && fresh[0].Name != old && clusterbed.IsReady(fresh[0]), nil
	}); err != nil {
		t.Fatalf("the Deployment was not rolled: pods %v", podNames(fresh))
	}
	files, err := clusterbed.AppFiles(ctx, fresh[0])
	if err != nil {
		t.Fatal(err)
	}
	if files[rb.KeyFile()].SHA256 != clusterbed.SHA256(rotated) {
		t.Errorf("the restarted pod does not have the rotated key")
	}
}

func podNames(ps []corev1.Pod) []string {
	var n []string
	for _, p := range ps {
		n = append(n, p.Name)
	}
	return n
}

// A webhook replica killed during a rollout of 20 pods: every pod that
// exists is injected, and every running one has its secrets.
func TestWebhookReplicaKilledDuringRollout(t *testing.T) {
	s := need(t)
	ctx := testContext(t, 6*time.Minute)
	ns := s.newNamespace(t, "real-kill")
	b := s.Bed.Backends["gcp"]
	rb := bed.NewRunbook("kucoin")
	provision(t, ctx, rb, b)
	d, err := s.Deployment(ctx, clusterbed.Workload{Name: "fleet", Namespace: ns, Backend: b, Annotations: rb.Annotations(b, "1m"), Replicas: 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Kill one replica while the ReplicaSet creates its pods.
	time.Sleep(500 * time.Millisecond)
	hooks, err := s.Client.CoreV1().Pods(clusterbed.ChartNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=secret-injector"})
	if err != nil || len(hooks.Items) == 0 {
		t.Fatalf("webhook pods: %v (%d)", err, len(hooks.Items))
	}
	victim := hooks.Items[0].Name
	if err := s.Client.CoreV1().Pods(clusterbed.ChartNS).Delete(ctx, victim, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed webhook pod %s during the rollout", victim)
	pods := s.waitAvailable(t, ctx, ns, "fleet", 5*time.Minute)
	all, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all.Items {
		if !clusterbed.AgentsInjected(p) {
			t.Errorf("pod %s exists without the agent", p.Name)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			files, err := clusterbed.AppFiles(ctx, p)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || files[rb.KeyFile()].SHA256 != clusterbed.SHA256(rb.APIKey) {
				t.Errorf("pod %s runs without its api key (%v)", p.Name, err)
			}
		}()
	}
	wg.Wait()
	if len(pods) != 20 {
		t.Errorf("%d pods running, want 20", len(pods))
	}
	if err := s.WaitWebhook(ctx); err != nil {
		t.Errorf("the webhook did not come back to two replicas: %v", err)
	}
}
