package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
	"github.com/tradepulse/secret-injector/agent/backend/gcp/gcptest"
	"github.com/tradepulse/secret-injector/charts/charttest"
	"github.com/tradepulse/secret-injector/e2e/bed"
)

// Release and namespace of the chart the suite installs.
const (
	release   = "secret-injector"
	chartNS   = bed.ChartNamespace
	clusterUp = "hack/cluster.sh up && eval \"$(hack/cluster.sh env)\""
)

// env is what hack/cluster.sh env exports.
type env struct {
	kubeconfig, gateway, image, testappImage, logs string
}

func readEnv() (env, []string) {
	e := env{
		kubeconfig:   os.Getenv("SI_CLUSTER_KUBECONFIG"),
		gateway:      os.Getenv("SI_CLUSTER_GATEWAY"),
		image:        os.Getenv("SI_CLUSTER_IMAGE"),
		testappImage: os.Getenv("SI_CLUSTER_TESTAPP_IMAGE"),
		logs:         os.Getenv("SI_CLUSTER_LOGS"),
	}
	var missing []string
	for k, v := range map[string]string{"SI_CLUSTER_KUBECONFIG": e.kubeconfig, "SI_CLUSTER_GATEWAY": e.gateway,
		"SI_CLUSTER_IMAGE": e.image, "SI_CLUSTER_TESTAPP_IMAGE": e.testappImage} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	return e, missing
}

// suite is the running cluster with the chart installed.
type suite struct {
	env
	cfg    *rest.Config
	client kubernetes.Interface
	bed    *bed.Bed
	helm   string
	// binary is a host build of secret-injector, for the operator's
	// commands (revoke, refresh, status) against the cluster.
	binary string
	// pgAddr is PostgreSQL as pods reach it (the gateway).
	pgAddr string
	dir    string

	leakMu sync.Mutex
	// leaks are the secret values each test used, by test name.
	leaks map[string][]string
}

var (
	the      *suite
	setupErr error
)

var errShort = errors.New("-short: the real-pods suite needs the cluster")

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		setupErr = errShort
		os.Exit(m.Run())
	}
	var stop func()
	start := time.Now()
	the, stop, setupErr = setUp(context.Background())
	if setupErr == nil {
		fmt.Fprintf(os.Stderr, "cluster suite ready in %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// need returns the suite; without the cluster it skips locally and fails in
// CI, so CI never passes by skipping.
func need(t *testing.T) *suite {
	t.Helper()
	if errors.Is(setupErr, errShort) {
		t.Skip(setupErr)
	}
	if setupErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cluster suite: %v", setupErr)
		}
		t.Skipf("cluster suite: %v", setupErr)
	}
	return the
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// setUp reaches the cluster, starts the protocol servers and the gateway
// forwarders, configures Vault and installs the chart.
func setUp(ctx context.Context) (s *suite, stop func(), err error) {
	e, missing := readEnv()
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("%s unset: run %s", strings.Join(missing, ", "), clusterUp)
	}
	helm, err := charttest.FindHelm()
	if err != nil {
		return nil, nil, err
	}
	s = &suite{env: e, helm: helm, leaks: map[string][]string{}}
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
			stop = nil
		}
	}()
	if s.dir, err = os.MkdirTemp("", "secret-injector-cluster-"); err != nil {
		return nil, nil, err
	}
	stops = append(stops, func() { _ = os.RemoveAll(s.dir) })
	if s.cfg, err = clientcmd.BuildConfigFromFlags("", e.kubeconfig); err != nil {
		return nil, nil, fmt.Errorf("kubeconfig %s: %w", e.kubeconfig, err)
	}
	s.cfg.QPS, s.cfg.Burst = 50, 100
	if s.client, err = kubernetes.NewForConfig(s.cfg); err != nil {
		return nil, nil, err
	}
	setupCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if _, err := s.client.CoreV1().Nodes().List(setupCtx, metav1.ListOptions{}); err != nil {
		return nil, nil, fmt.Errorf("cluster does not answer (%w): run %s", err, clusterUp)
	}

	logf("building the operator's CLI (go build ./cmd/secret-injector)")
	s.binary = filepath.Join(s.dir, "secret-injector")
	build := exec.CommandContext(setupCtx, "go", "build", "-o", s.binary, "./cmd/secret-injector")
	build.Dir = bed.ModuleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("go build: %w\n%s", err, out)
	}

	logf("starting the Secret Manager and Secrets Manager protocol servers, reachable from pods at %s", e.gateway)
	gcp, err := gcptest.NewServer()
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, gcp.Close)
	aws := awstest.NewServer()
	stops = append(stops, aws.Close)
	gcpAddr, err := s.forward(gcp.Addr(), &stops)
	if err != nil {
		return nil, nil, err
	}
	awsURL, _ := url.Parse(aws.URL())
	awsAddr, err := s.forward(awsURL.Host, &stops)
	if err != nil {
		return nil, nil, err
	}

	b, cleanup, err := bed.Attach(setupCtx, s.cfg, gcp, aws, os.Stderr)
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, cleanup)
	s.bed = b
	values := map[string]any{
		"image": map[string]any{"repository": repo(e.image), "tag": tag(e.image), "pullPolicy": "Never"},
		"defaults": map[string]any{
			"backend":         "env",
			"enabledBackends": []string{"env", "gcp", "aws", "vault"},
			"gcp":             map[string]any{"project": bed.GCPProject, "endpoint": gcpAddr, "insecure": true},
			"aws":             map[string]any{"region": bed.AWSRegion, "endpoint": "http://" + awsAddr},
			"agent": map[string]any{
				"imagePullPolicy": "Never",
				// Stand-ins for IRSA: static credentials the protocol server accepts.
				"env": envMap(b.Backends["aws"].AgentEnv()),
			},
			"minRefreshInterval": "1s",
		},
	}
	if b.Vault != nil {
		vaultURL, _ := url.Parse(b.Vault.Env.Addr)
		vaultAddr, err := s.forward(vaultURL.Host, &stops)
		if err != nil {
			return nil, nil, err
		}
		pg, err := s.forward(net.JoinHostPort(b.Vault.Env.PGHost, b.Vault.Env.PGPort), &stops)
		if err != nil {
			return nil, nil, err
		}
		s.pgAddr = pg
		values["defaults"].(map[string]any)["vault"] = map[string]any{
			"address": "http://" + vaultAddr, "authPath": b.Vault.AuthPath, "role": b.Vault.Role,
		}
	} else if os.Getenv("CI") == "true" {
		return nil, nil, fmt.Errorf("vault bed absent (%s unset): %s", strings.Join(b.VaultMissing, ", "), bed.VaultEnvHint)
	}

	logf("helm install %s charts/secret-injector (image %s, 2 webhook replicas, self-managed TLS)", release, e.image)
	if err := s.helmInstall(setupCtx, values); err != nil {
		return nil, nil, err
	}
	stops = append(stops, s.helmUninstall)
	if err := s.waitWebhook(setupCtx); err != nil {
		return nil, nil, err
	}
	return s, stop, nil
}

func repo(image string) string { return image[:strings.LastIndex(image, ":")] }
func tag(image string) string  { return image[strings.LastIndex(image, ":")+1:] }

func envMap(kvs []string) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// forward listens on the gateway and relays to target on the host, so that
// pods reach a server that listens on loopback only.
func (s *suite) forward(target string, stops *[]func()) (string, error) {
	f, err := startForwarder(net.JoinHostPort(s.gateway, "0"), target)
	if err != nil {
		return "", fmt.Errorf("forward %s from the gateway: %w", target, err)
	}
	*stops = append(*stops, f.Close)
	return f.Addr(), nil
}

func (s *suite) helmInstall(ctx context.Context, values map[string]any) error {
	data, err := json.Marshal(values)
	if err != nil {
		return err
	}
	vf := filepath.Join(s.dir, "values.json")
	if err := os.WriteFile(vf, data, 0o600); err != nil {
		return err
	}
	// A release left by an interrupted run is replaced.
	_ = exec.CommandContext(ctx, s.helm, "uninstall", release, "-n", chartNS, "--kubeconfig", s.kubeconfig, "--wait").Run()
	cmd := exec.CommandContext(ctx, s.helm, "install", release, charttest.ChartDir(), "-n", chartNS, "--create-namespace",
		"--kubeconfig", s.kubeconfig, "-f", vf, "--wait", "--timeout", "3m")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("helm install: %w\n%s\n%s", err, out, s.describe(context.Background(), chartNS))
	}
	return nil
}

func (s *suite) helmUninstall() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, s.helm, "uninstall", release, "-n", chartNS, "--kubeconfig", s.kubeconfig, "--wait").CombinedOutput(); err != nil {
		logf("helm uninstall: %v\n%s", err, out)
	}
}

// waitWebhook waits for both replicas and a caBundle the API server trusts:
// a server-side dry run of an opted-in pod comes back injected.
func (s *suite) waitWebhook(ctx context.Context) error {
	name := release
	err := poll(ctx, 2*time.Minute, func() (bool, error) {
		d, err := s.client.AppsV1().Deployments(chartNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return d.Status.AvailableReplicas == 2, nil
	})
	if err != nil {
		return fmt.Errorf("webhook deployment not available: %w\n%s", err, s.describe(context.Background(), chartNS))
	}
	err = poll(ctx, time.Minute, func() (bool, error) {
		list, err := s.client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		return caBundled(list.Items), nil
	})
	if err != nil {
		return fmt.Errorf("webhook configuration never got its caBundle: %w", err)
	}
	return nil
}

func caBundled(mwcs []admissionregistrationv1.MutatingWebhookConfiguration) bool {
	for _, m := range mwcs {
		for _, w := range m.Webhooks {
			if strings.HasPrefix(m.Name, release) && len(w.ClientConfig.CABundle) > 0 {
				return true
			}
		}
	}
	return false
}

// webhookPods are the chart's webhook pods.
func (s *suite) webhookDeployment(ctx context.Context) (*appsv1.Deployment, error) {
	return s.client.AppsV1().Deployments(chartNS).Get(ctx, release, metav1.GetOptions{})
}

// poll checks cond every 250 ms until it holds, fails, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	return bed.Wait(ctx, timeout, cond)
}
