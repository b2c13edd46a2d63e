package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The API server is shared by every envtest test in the package: it starts
// on first use and stops in TestMain, after all webhooks have stopped.
var shared struct {
	once sync.Once
	env  *envtest.Environment
	cfg  *rest.Config
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil {
		if err := shared.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}
	os.Exit(code)
}

// apiServer returns a client config for a real kube-apiserver + etcd. With
// no binaries it skips locally and fails in CI (CI=true).
func apiServer(t *testing.T) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		msg := `KUBEBUILDER_ASSETS is unset: build the test API server with hack/k8s-tools.sh, then eval "$(hack/k8s-tools.sh env)"`
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	shared.once.Do(func() {
		shared.env = &envtest.Environment{ControlPlaneStartTimeout: time.Minute}
		shared.cfg, shared.err = shared.env.Start()
	})
	if shared.err != nil {
		t.Fatalf("start envtest: %v", shared.err)
	}
	cs, err := kubernetes.NewForConfig(shared.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rest.CopyConfig(shared.cfg), cs
}

// freePort returns a port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runningWebhook is a webhook started by startWebhook.
type runningWebhook struct {
	cfg      Config
	registry *prometheus.Registry
	stop     func()
}

func (w *runningWebhook) url() string {
	return fmt.Sprintf("https://127.0.0.1:%d%s", w.cfg.Port, Path)
}

// startWebhook runs Run on local ports (cfg.Port if set) until the returned stop func (also a
// test cleanup) cancels it and waits for it to return. Cleanups run last in
// first out, and the shared API server stops after every test, so the
// webhook always stops before the API server.
func startWebhook(t *testing.T, cfg Config) *runningWebhook {
	t.Helper()
	cfg.Host = "127.0.0.1"
	if cfg.Port == 0 {
		cfg.Port = freePort(t)
	}
	cfg.ProbeAddr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	cfg.MetricsAddr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Logger == nil {
		tw := &testWriter{t: t}
		t.Cleanup(tw.close)
		cfg.Logger = slog.New(slog.NewTextHandler(tw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return 30s after cancel")
			}
		})
	}
	t.Cleanup(stop)
	w := &runningWebhook{cfg: cfg, registry: cfg.Registry, stop: stop}
	eventually(t, 20*time.Second, "webhook ready", func() error {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("Run returned early: %w", err)
		default:
		}
		resp, err := http.Get("http://" + cfg.ProbeAddr + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d: %s", resp.StatusCode, body)
		}
		return nil
	})
	return w
}

// testWriter sends the webhook's log lines to the test log, so that a
// failure shows them. Run points controller-runtime's process-wide logger
// here too, so lines arriving after the test are dropped.
type testWriter struct {
	mu sync.Mutex
	t  *testing.T
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.t != nil {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = nil
}

// admissions sums admissions_total over every result: how often the
// handler was called.
func admissions(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "secret_injector_webhook_admissions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// eventually polls f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// servedCertificate is the leaf the webhook presents right now.
func servedCertificate(t *testing.T, port int) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // we inspect the certificate, not trust it
	if err != nil {
		t.Fatalf("dial webhook: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// createNamespace makes a namespace for one test.
func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// registerWebhook installs the configuration the builder makes, narrowed to
// one namespace so that tests sharing the API server never see each other's
// webhooks, and removes it at cleanup.
func registerWebhook(t *testing.T, cs kubernetes.Interface, name, url, namespace string, caBundle []byte) {
	t.Helper()
	mwc := MutatingWebhookConfiguration(ConfigurationOptions{Name: name, URL: url, CABundle: caBundle})
	mwc.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: namespace}}
	api := cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := api.Create(context.Background(), mwc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("register webhook: %v", err)
	}
	t.Cleanup(func() {
		if err := api.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete webhook configuration: %v", err)
		}
	})
}

// createPod creates pod through the API server (and so through admission).
func createPod(cs kubernetes.Interface, ns string, pod *corev1.Pod, dryRun bool) (*corev1.Pod, error) {
	p := pod.DeepCopy()
	p.Namespace = ns
	p.Name = ""
	p.GenerateName = pod.Name + "-"
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return cs.CoreV1().Pods(ns).Create(context.Background(), p, opts)
}

// isInjected reports whether the pod carries an agent container: the
// native sidecar, or with classic sidecars the init container.
func isInjected(p *corev1.Pod) bool {
	for _, c := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
		if c.Name == "secret-injector-agent" || c.Name == "secret-injector-init" {
			return true
		}
	}
	return false
}

// waitForAdmission waits until the API server routes opted-in pods to the
// webhook (its configuration informer lags the create by a moment). Dry-run
// creates go through admission without storing anything.
func waitForAdmission(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	eventually(t, 20*time.Second, "api server calls the webhook", func() error {
		got, err := createPod(cs, ns, testPod(nil), true)
		if err != nil {
			return err
		}
		if !isInjected(got) {
			return errors.New("dry-run pod came back without the agent")
		}
		return nil
	})
}

// webhookCABundle reads the caBundle the API server uses for our webhook.
func webhookCABundle(t *testing.T, cs kubernetes.Interface, name string) []byte {
	t.Helper()
	mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return mwc.Webhooks[0].ClientConfig.CABundle
}
