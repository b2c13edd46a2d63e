package cluster

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/e2e/clusterdemo"
)

// TestDemo runs `make demo`'s walk-through on the cluster (Vault when the
// bed has it): it must pass its own checks and print no secret value, and
// its pods' logs must hold none either.
func TestDemo(t *testing.T) {
	s := need(t)
	ctx := testContext(t, 5*time.Minute)
	var out bytes.Buffer
	var values []string
	d, err := clusterdemo.Run(ctx, s.Cluster, clusterdemo.Options{Out: &out, Secret: func(v string) { values = append(values, v) }})
	if d != nil && d.Namespace != "" {
		s.watchForLeaks(t, values...)
		t.Cleanup(func() {
			s.checkLeaks(t, d.Namespace)
			if t.Failed() {
				t.Logf("namespace %s at failure:\n%s", d.Namespace, s.Describe(context.Background(), d.Namespace))
			}
			_ = s.Client.CoreV1().Namespaces().Delete(context.Background(), d.Namespace, metav1.DeleteOptions{})
		})
	}
	if err != nil {
		t.Fatalf("demo: %v\noutput:\n%s", err, out.String())
	}
	for _, v := range values {
		if v != "" && strings.Contains(out.String(), v) {
			t.Errorf("the demo printed a secret value")
		}
	}
	t.Logf("demo output:\n%s", out.String())
}
