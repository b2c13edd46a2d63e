// Package bed is the end-to-end test bed: a real kube-apiserver and etcd
// (envtest), the secret-injector webhook running as its own process of the
// real binary and registered from the Helm chart's rendered
// MutatingWebhookConfiguration, in-process Google Secret Manager and AWS
// Secrets Manager servers, and — when its environment is present — the
// Vault + PostgreSQL bed of hack/vault-bed.sh with Kubernetes auth checked
// against this API server. The e2e tests and `make demo` share it.
package bed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
	"github.com/tradepulse/secret-injector/agent/backend/gcp/gcptest"
	"github.com/tradepulse/secret-injector/charts/charttest"
	"github.com/tradepulse/secret-injector/internal/testkit"
	"github.com/tradepulse/secret-injector/webhook"
)

// ToolsHint says how to get the API server binaries and helm.
const ToolsHint = "run eval \"$(hack/k8s-tools.sh env)\" (builds kube-apiserver, etcd and helm once)"

// ErrNoTools is returned by Start when KUBEBUILDER_ASSETS or helm is
// missing.
var ErrNoTools = errors.New("kube-apiserver/etcd (KUBEBUILDER_ASSETS) or helm (HELM) not available: " + ToolsHint)

// Options tune Start.
type Options struct {
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// WithoutVault skips the Vault bed even when its environment is set.
	WithoutVault bool
}

// Bed is a running test bed.
type Bed struct {
	// Config and Client reach the API server as its admin.
	Config *rest.Config
	Client kubernetes.Interface
	// Binary is the secret-injector binary the webhook and agents run.
	Binary string
	// WebhookURL is where the API server calls the webhook;
	// WebhookMetricsURL is its Prometheus endpoint.
	WebhookURL        string
	WebhookMetricsURL string
	// GCP and AWS are the in-process cloud servers.
	GCP *gcptest.Server
	AWS *awstest.Server
	// Vault is nil without the Vault bed; VaultMissing then names the
	// unset variables.
	Vault        *Vault
	VaultMissing []string
	// Backends by name: env, gcp, aws and (with Vault) vault.
	Backends map[string]Backend

	webhook *webhookServer
	env     *envtest.Environment
}

// Start brings the bed up. The returned stop func tears it down in order
// (webhook before the API server); it is also called on a failed start.
func Start(ctx context.Context, o Options) (b *Bed, stop func(), err error) {
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, nil, ErrNoTools
	}
	helm, err := charttest.FindHelm()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNoTools, err)
	}
	b = &Bed{Backends: map[string]Backend{}}
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stopAll()
		}
	}()
	dir, err := os.MkdirTemp("", "secret-injector-e2e-")
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, func() { _ = os.RemoveAll(dir) })

	logf("building bin/secret-injector (go build ./cmd/secret-injector)")
	if b.Binary, err = buildBinary(ctx, dir); err != nil {
		return nil, nil, err
	}

	logf("starting kube-apiserver and etcd (envtest)")
	env := &envtest.Environment{}
	if b.Config, err = env.Start(); err != nil {
		return nil, nil, fmt.Errorf("start envtest: %w", err)
	}
	stops = append(stops, func() { _ = env.Stop() })
	b.env = env
	if b.Client, err = kubernetes.NewForConfig(b.Config); err != nil {
		return nil, nil, err
	}
	logf("  API server: %s", b.Config.Host)

	logf("starting the Secret Manager (gRPC) and Secrets Manager (HTTP) protocol servers")
	if b.GCP, err = gcptest.NewServer(); err != nil {
		return nil, nil, err
	}
	stops = append(stops, b.GCP.Close)
	b.AWS = awstest.NewServer()
	stops = append(stops, b.AWS.Close)
	b.Backends["gcp"] = gcpBackend{b.GCP}
	b.Backends["aws"] = awsBackend{b.AWS}
	b.Backends["env"] = &envBackend{client: b.Client, vars: map[string]string{}, nss: map[string]bool{}}

	enabled := []string{"env", "gcp", "aws"}
	if !o.WithoutVault {
		ve, missing := vaultEnv()
		if ve == nil {
			b.VaultMissing = missing
			logf("  no Vault bed (%s unset): %s", strings.Join(missing, ", "), VaultEnvHint)
		} else {
			logf("configuring Vault at %s: Kubernetes auth against this API server, KV v2, a PostgreSQL role", ve.Addr)
			v, cleanup, err := setupVault(ctx, b, ve, 0, 0)
			if err != nil {
				return nil, nil, err
			}
			stops = append(stops, cleanup)
			b.Vault = v
			b.Backends["vault"] = &vaultBackend{v}
			enabled = append(enabled, "vault")
		}
	}

	logf("starting the webhook (the real binary, chart's flags) and registering the chart's webhook configuration")
	certDir := dir + "/tls"
	if err := os.Mkdir(certDir, 0o700); err != nil {
		return nil, nil, err
	}
	caPEM, err := writeServingCert(certDir)
	if err != nil {
		return nil, nil, err
	}
	mwc, args, err := renderChart(helm, caPEM, enabled)
	if err != nil {
		return nil, nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, nil, err
	}
	probeAddr, err := testkit.FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	metricsAddr, err := testkit.FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	// The chart's args, then what differs outside a cluster: local ports,
	// the certificate directory, the protocol servers' endpoints.
	args = append(args, "--port="+strconv.Itoa(port), "--cert-dir="+certDir, "--tls-mode="+webhook.TLSModeFile,
		"--probe-addr="+probeAddr, "--metrics-addr="+metricsAddr, "--log-format=text",
		"--native-sidecars=true", "--default-backend=env", "--enabled-backends="+strings.Join(enabled, ","),
		// the scenarios rotate within seconds, below the chart's 30s floor
		"--min-refresh-interval=1s",
		"--gcp-project="+GCPProject, "--gcp-endpoint="+b.GCP.Addr(), "--gcp-insecure",
		"--aws-region="+AWSRegion, "--aws-endpoint="+b.AWS.URL())
	if b.Vault != nil {
		args = append(args, "--vault-address="+b.Vault.Env.Addr, "--vault-auth-path="+b.Vault.AuthPath, "--vault-role="+b.Vault.Role)
	}
	b.webhook = &webhookServer{bin: b.Binary, dir: dir, args: args, port: port, probeAddr: probeAddr}
	if err := b.webhook.start(ctx); err != nil {
		return nil, nil, err
	}
	stops = append(stops, b.webhook.stop)
	b.WebhookURL = fmt.Sprintf("https://127.0.0.1:%d%s", port, webhook.Path)
	b.WebhookMetricsURL = "http://" + metricsAddr + "/metrics"
	if err := b.installWebhook(ctx, mwc, b.WebhookURL, caPEM); err != nil {
		return nil, nil, fmt.Errorf("%w\nwebhook logs:\n%s", err, b.WebhookLogs())
	}
	logf("  webhook: %s (metrics %s)", b.WebhookURL, b.WebhookMetricsURL)
	return b, stopAll, nil
}

// PodServiceAccount is the service account every e2e pod runs as.
const PodServiceAccount = "trading-engine"

// NewNamespace creates a namespace with the pods' service account.
func (b *Bed) NewNamespace(ctx context.Context, prefix string) (string, error) {
	ns, err := b.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create namespace: %w", err)
	}
	_, err = b.Client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: PodServiceAccount}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create service account: %w", err)
	}
	return ns.Name, nil
}

// Wait polls cond every 100 ms until it is true, it fails, or timeout.
func Wait(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	return poll(ctx, timeout, cond)
}

// WriteKubeconfig writes a kubeconfig for a cluster-admin user of the bed's
// API server to path, so that an operator can look with kubectl.
func (b *Bed) WriteKubeconfig(path string) error {
	u, err := b.env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("kubeconfig user: %w", err)
	}
	data, err := u.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return os.WriteFile(path, data, 0o600)
}
