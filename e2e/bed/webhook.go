package bed

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/charts/charttest"
	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/internal/testkit"
)

// ChartNamespace is the namespace the chart is rendered for; the rendered
// configuration keeps the webhook away from it.
const ChartNamespace = "secret-injector"

// AgentImage is the image the webhook injects; the pod runner ignores it
// and runs the locally built binary.
const AgentImage = "ghcr.io/tradepulse/secret-injector:e2e"

// renderChart renders the chart as an operator would install it (TLS from
// a provided Secret whose CA is caPEM) and returns its
// MutatingWebhookConfiguration and the webhook container's args.
func renderChart(helm string, caPEM []byte, backends []string) (*admissionregistrationv1.MutatingWebhookConfiguration, []string, error) {
	values := map[string]any{
		"tls": map[string]any{"mode": "secret", "secret": map[string]any{
			"name": "secret-injector-e2e-tls", "caBundle": base64.StdEncoding.EncodeToString(caPEM)}},
		"defaults": map[string]any{
			"backend":         "env",
			"enabledBackends": backends,
			"nativeSidecars":  "true",
			"agent": map[string]any{"image": map[string]any{
				"repository": "ghcr.io/tradepulse/secret-injector", "tag": "e2e"}},
		},
	}
	objs, err := charttest.Render(helm, values, ChartNamespace)
	if err != nil {
		return nil, nil, fmt.Errorf("render chart: %w", err)
	}
	var mwc *admissionregistrationv1.MutatingWebhookConfiguration
	var args []string
	for _, o := range objs {
		switch o.GetKind() {
		case "MutatingWebhookConfiguration":
			mwc = &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, mwc); err != nil {
				return nil, nil, fmt.Errorf("decode rendered webhook configuration: %w", err)
			}
		case "Deployment":
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if len(cs) == 0 {
				continue
			}
			c, _ := cs[0].(map[string]any)
			args, _, _ = unstructured.NestedStringSlice(c, "args")
		}
	}
	if mwc == nil || len(args) == 0 {
		return nil, nil, errors.New("the rendered chart has no MutatingWebhookConfiguration or no webhook Deployment args")
	}
	return mwc, args, nil
}

// webhookServer is the webhook process and what it takes to restart it.
type webhookServer struct {
	bin, dir  string
	args      []string
	port      int
	probeAddr string
	proc      *testkit.Process
	logs      []string // output of earlier runs
}

func (w *webhookServer) start(ctx context.Context) error {
	p, err := testkit.StartGroup("webhook", w.bin, w.args, BaseEnv(), w.dir)
	if err != nil {
		return err
	}
	w.proc = p
	// Ready when its probe says so and its TLS port answers.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // #nosec: reachability only
	return poll(ctx, 30*time.Second, func() (bool, error) {
		if done, err := p.Exited(); done {
			return false, fmt.Errorf("webhook exited: %v\n%s", err, p.Output())
		}
		r, err := client.Get("http://" + w.probeAddr + "/readyz")
		if err != nil {
			return false, nil
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			return false, nil
		}
		r, err = client.Get(fmt.Sprintf("https://127.0.0.1:%d/healthz", w.port))
		if err != nil {
			return false, nil
		}
		r.Body.Close()
		return true, nil
	})
}

func (w *webhookServer) stop() {
	if w.proc == nil {
		return
	}
	w.proc.Stop(10 * time.Second)
	w.logs = append(w.logs, w.proc.Output())
	w.proc = nil
}

func (w *webhookServer) output() string {
	out := ""
	for i, l := range w.logs {
		out += fmt.Sprintf("--- webhook run %d ---\n%s", i+1, l)
	}
	if w.proc != nil {
		out += "--- webhook (running) ---\n" + w.proc.Output()
	}
	return out
}

// installWebhook registers the chart's configuration, pointed at url.
func (b *Bed) installWebhook(ctx context.Context, mwc *admissionregistrationv1.MutatingWebhookConfiguration, url string, caPEM []byte) error {
	for i := range mwc.Webhooks {
		mwc.Webhooks[i].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url), CABundle: caPEM}
	}
	mwc.ResourceVersion = ""
	if _, err := b.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create webhook configuration: %w", err)
	}
	// The API server picks the configuration up asynchronously: wait until
	// an opted-in pod (dry run) comes back injected.
	if err := b.ensureNamespace(ctx, "e2e-probe"); err != nil {
		return err
	}
	return poll(ctx, 30*time.Second, func() (bool, error) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: "e2e-probe", Annotations: map[string]string{
				injector.AnnotationInject: "true", injector.AnnotationBackend: "gcp", injector.AnnotationSecretPrefix + "probe": "probe"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
		}
		got, err := b.Client.CoreV1().Pods("e2e-probe").Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, nil
		}
		return got.Annotations[injector.AnnotationStatus] == "injected", nil
	})
}

func (b *Bed) ensureNamespace(ctx context.Context, name string) error {
	_, err := b.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// StopWebhook stops the webhook process (an outage); StartWebhook brings it
// back on the same port.
func (b *Bed) StopWebhook() { b.webhook.stop() }

// StartWebhook restarts a stopped webhook and waits until it serves.
func (b *Bed) StartWebhook(ctx context.Context) error {
	if b.webhook.proc != nil {
		return nil
	}
	return b.webhook.start(ctx)
}

// WebhookLogs is everything the webhook process wrote, across restarts.
func (b *Bed) WebhookLogs() string { return b.webhook.output() }

// poll calls cond until it reports true, returns an error, or timeout
// passes; every wait in the bed is bounded.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	return testkit.Poll(ctx, timeout, cond)
}
