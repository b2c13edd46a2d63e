package clusterbed

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/internal/testkit"
)

// Exposed collects what an operator or a log pipeline sees of namespace
// ns, where no secret value may appear: every container's log (current
// and previous), every Event, each running pod's agent metrics scrape and
// the operator's `secret-injector status -o json` answer.
func (c *Cluster) Exposed(ctx context.Context, ns string) ([]string, error) {
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods of %s: %w", ns, err)
	}
	var texts []string
	for _, p := range pods.Items {
		for _, ctr := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			for _, prev := range []bool{false, true} {
				rc, err := c.Client.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: ctr.Name, Previous: prev}).Stream(ctx)
				if err != nil {
					continue // no previous run, or not started
				}
				b, _ := io.ReadAll(io.LimitReader(rc, 8<<20))
				rc.Close()
				texts = append(texts, string(b))
			}
		}
		if p.Status.Phase == corev1.PodRunning {
			if m, err := AgentMetrics(ctx, p); err == nil {
				texts = append(texts, m)
			}
		}
	}
	evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list events of %s: %w", ns, err)
	}
	for _, e := range evs.Items {
		texts = append(texts, e.Message)
	}
	// The CLI answers for injected pods only; its failure text counts too.
	out, _ := c.CLI(ctx, "status", "-n", ns, "-o", "json")
	return append(texts, out), nil
}

// Leaked counts the values that appear in any of texts.
func Leaked(texts, values []string) int {
	n := 0
	for _, v := range values {
		for _, text := range texts {
			if strings.Contains(text, v) {
				n++
				break
			}
		}
	}
	return n
}

// AgentMetrics scrapes the agent's metrics port of pod p (the host routes
// to pod IPs).
func AgentMetrics(ctx context.Context, p corev1.Pod) (string, error) {
	if p.Status.PodIP == "" {
		return "", fmt.Errorf("pod %s has no IP", p.Name)
	}
	_, text, err := testkit.Call(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/metrics", p.Status.PodIP, injector.MetricsPort))
	return text, err
}
