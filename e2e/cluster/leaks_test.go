package cluster

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// watchForLeaks registers values that must appear in no container log and
// no Event of the test's namespaces; they are checked when the namespace
// is deleted.
func (s *suite) watchForLeaks(t *testing.T, values ...string) {
	s.leakMu.Lock()
	defer s.leakMu.Unlock()
	s.leaks[t.Name()] = append(s.leaks[t.Name()], values...)
}

// checkLeaks reads every container log (current and previous) and Event in
// ns, and fails t for each secret value found.
func (s *suite) checkLeaks(t *testing.T, ns string) {
	s.leakMu.Lock()
	var values []string
	for name, vs := range s.leaks {
		if name == t.Name() || strings.HasPrefix(t.Name(), name+"/") || strings.HasPrefix(name, t.Name()+"/") {
			values = append(values, vs...)
		}
	}
	s.leakMu.Unlock()
	if len(values) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var texts []string
	pods, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Errorf("leak check: %v", err)
		return
	}
	for _, p := range pods.Items {
		var names []string
		for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			names = append(names, c.Name)
		}
		for _, c := range names {
			for _, prev := range []bool{false, true} {
				rc, err := s.Client.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c, Previous: prev}).Stream(ctx)
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(io.LimitReader(rc, 8<<20))
				rc.Close()
				texts = append(texts, string(b))
			}
		}
	}
	evs, err := s.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, e := range evs.Items {
			texts = append(texts, e.Message)
		}
	}
	for _, v := range values {
		for _, text := range texts {
			if strings.Contains(text, v) {
				t.Errorf("a secret value of this test appears in a container log or Event of %s", ns)
				return
			}
		}
	}
}
