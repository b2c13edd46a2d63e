package cluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/e2e/clusterbed"
)

// suite is the bed with the leak sentinel's bookkeeping.
type suite struct {
	*clusterbed.Cluster

	leakMu sync.Mutex
	// leaks are the secret values each test used, by test name.
	leaks map[string][]string
}

var (
	the      *suite
	setupErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		setupErr = clusterbed.ErrShort
		os.Exit(m.Run())
	}
	var stop func()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	var c *clusterbed.Cluster
	c, stop, setupErr = clusterbed.Start(ctx, clusterbed.Options{Log: os.Stderr, RequireVault: os.Getenv("CI") == "true"})
	cancel()
	if setupErr == nil {
		the = &suite{Cluster: c, leaks: map[string][]string{}}
		fmt.Fprintf(os.Stderr, "cluster suite ready in %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// need returns the suite (clusterbed.Require: never a skip in CI).
func need(t testing.TB) *suite {
	t.Helper()
	clusterbed.Require(t, "cluster suite", setupErr)
	return the
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	return clusterbed.Poll(ctx, timeout, cond)
}

// newNamespace creates a namespace for the test; at its end the namespace
// is checked for leaked secret values, described if the test failed, and
// deleted.
func (s *suite) newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns, err := s.NewNamespace(testContext(t, 30*time.Second), prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.checkLeaks(t, ns)
		if t.Failed() {
			t.Logf("namespace %s at failure:\n%s", ns, s.Describe(context.Background(), ns))
		}
		_ = s.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	return ns
}

// deploy is Deploy, failing t.
func (s *suite) deploy(t *testing.T, ctx context.Context, w clusterbed.Workload, timeout time.Duration) []corev1.Pod {
	t.Helper()
	pods, err := s.Deploy(ctx, w, timeout)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) == 0 {
		t.Fatalf("deployment %s has no running pod", w.Name)
	}
	return pods
}

func (s *suite) running(t *testing.T, ctx context.Context, ns, app string) []corev1.Pod {
	t.Helper()
	pods, err := s.RunningPods(ctx, ns, app)
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

func (s *suite) waitAvailable(t *testing.T, ctx context.Context, ns, name string, timeout time.Duration) []corev1.Pod {
	t.Helper()
	pods, err := s.WaitAvailable(ctx, ns, name, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return pods
}
