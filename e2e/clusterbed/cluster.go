// Package clusterbed is the real-pods test bed: the single-node cluster of
// hack/cluster.sh (kubelet, containerd, the controllers) with the chart
// installed by `helm install` from the image `make image` builds, and the
// host's servers — Vault, PostgreSQL and the in-process Secret Manager and
// Secrets Manager protocol servers — reachable from pods at the bridge's
// gateway address. The real-pods suite (e2e/cluster) and `make demo` share
// it.
package clusterbed

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
	"github.com/tradepulse/secret-injector/agent/backend/gcp/gcptest"
	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/charts/charttest"
	"github.com/tradepulse/secret-injector/e2e/bed"
)

// Release and namespace of the chart the bed installs.
const (
	Release   = "secret-injector"
	ChartNS   = bed.ChartNamespace
	clusterUp = "hack/cluster.sh up && eval \"$(hack/cluster.sh env)\""
)

// Env is what hack/cluster.sh env exports.
type Env struct {
	Kubeconfig, Gateway, Image, TestappImage, Kubectl string
}

// ReadEnv reads hack/cluster.sh's variables and names the missing ones.
func ReadEnv() (Env, []string) {
	e := Env{
		Kubeconfig:   os.Getenv("SI_CLUSTER_KUBECONFIG"),
		Gateway:      os.Getenv("SI_CLUSTER_GATEWAY"),
		Image:        os.Getenv("SI_CLUSTER_IMAGE"),
		TestappImage: os.Getenv("SI_CLUSTER_TESTAPP_IMAGE"),
		Kubectl:      os.Getenv("SI_KUBECTL"),
	}
	var missing []string
	for _, kv := range [][2]string{{"SI_CLUSTER_KUBECONFIG", e.Kubeconfig}, {"SI_CLUSTER_GATEWAY", e.Gateway},
		{"SI_CLUSTER_IMAGE", e.Image}, {"SI_CLUSTER_TESTAPP_IMAGE", e.TestappImage}, {"SI_KUBECTL", e.Kubectl}} {
		if kv[1] == "" {
			missing = append(missing, kv[0])
		}
	}
	return e, missing
}

// Cluster is the running bed with the chart installed.
type Cluster struct {
	Env
	Config *rest.Config
	Client kubernetes.Interface
	// Bed holds the backends, the protocol servers and Vault.
	Bed  *bed.Bed
	Helm string
	// Binary is a host build of secret-injector, for the operator's
	// commands (status, refresh, revoke) against the cluster.
	Binary string
	// PGAddr is PostgreSQL as pods reach it (at the gateway).
	PGAddr string
	// vaultCA is the PEM CA bundle of the Vault TLS front; nil when pods
	// reach Vault in plain HTTP (a caller's VaultFront).
	vaultCA []byte
	dir     string
	log     io.Writer
}

// Options tune Start.
type Options struct {
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// RequireVault fails Start when the Vault bed's environment is absent.
	RequireVault bool
	// Vault is the Vault to configure and install the chart against; nil
	// takes the Vault bed's (hack/vault-bed.sh env).
	Vault *vaulttest.Env
	// VaultFront, when set, is where pods reach Vault in plain HTTP (a
	// proxy of the caller's on the gateway); otherwise pods reach it over
	// TLS with the bed's own CA (vaultTLSFront), which the chart's
	// defaults.vault.caBundle names.
	VaultFront string
	// DBTTL and DBMaxTTL are the database role's lease TTLs; zero takes
	// the bed's short defaults.
	DBTTL, DBMaxTTL time.Duration
}

// Start reaches the cluster, starts the protocol servers and the gateway
// forwarders, configures Vault and installs the chart. stop uninstalls and
// stops everything it started, in reverse.
func Start(ctx context.Context, o Options) (c *Cluster, stop func(), err error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	e, missing := ReadEnv()
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("%s unset: run %s", strings.Join(missing, ", "), clusterUp)
	}
	helm, err := charttest.FindHelm()
	if err != nil {
		return nil, nil, err
	}
	c = &Cluster{Env: e, Helm: helm, log: o.Log}
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
	if c.dir, err = os.MkdirTemp("", "secret-injector-cluster-"); err != nil {
		return nil, nil, err
	}
	stops = append(stops, func() { _ = os.RemoveAll(c.dir) })
	if c.Config, err = clientcmd.BuildConfigFromFlags("", e.Kubeconfig); err != nil {
		return nil, nil, fmt.Errorf("kubeconfig %s: %w", e.Kubeconfig, err)
	}
	c.Config.QPS, c.Config.Burst = 50, 100
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, nil, err
	}
	if _, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		return nil, nil, fmt.Errorf("cluster does not answer (%w): run %s", err, clusterUp)
	}

	c.logf("building the operator's CLI (go build ./cmd/secret-injector)")
	c.Binary = filepath.Join(c.dir, "secret-injector")
	build := exec.CommandContext(ctx, "go", "build", "-o", c.Binary, "./cmd/secret-injector")
	build.Dir = bed.ModuleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("go build: %w\n%s", err, out)
	}

	c.logf("starting the Secret Manager and Secrets Manager protocol servers, reachable from pods at %s", e.Gateway)
	gcp, err := gcptest.NewServer()
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, gcp.Close)
	aws := awstest.NewServer()
	stops = append(stops, aws.Close)
	gcpAddr, err := c.forward(gcp.Addr(), &stops)
	if err != nil {
		return nil, nil, err
	}
	awsURL, _ := url.Parse(aws.URL())
	awsAddr, err := c.forward(awsURL.Host, &stops)
	if err != nil {
		return nil, nil, err
	}

	b, cleanup, err := bed.Attach(ctx, c.Config, gcp, aws, bed.AttachOptions{Log: o.Log, Vault: o.Vault, DBTTL: o.DBTTL, DBMaxTTL: o.DBMaxTTL})
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, cleanup)
	c.Bed = b
	defaults := map[string]any{
		"backend":         "env",
		"enabledBackends": []string{"env", "gcp", "aws", "vault"},
		"gcp":             map[string]any{"project": bed.GCPProject, "endpoint": gcpAddr, "insecure": true},
		"aws":             map[string]any{"region": bed.AWSRegion, "endpoint": "http://" + awsAddr},
		"agent": map[string]any{
			"imagePullPolicy": "Never",
			// Stand-ins for IRSA: static credentials the protocol server accepts.
			"env": envMap(b.Backends["aws"].AgentEnv()),
		},
		// The scenarios rotate within seconds.
		"minRefreshInterval": "1s",
	}
	if b.Vault != nil {
		vault := map[string]any{"address": "http://" + o.VaultFront, "authPath": b.Vault.AuthPath, "role": b.Vault.Role}
		if o.VaultFront == "" {
			vaultURL, _ := url.Parse(b.Vault.Env.Addr)
			c.logf("serving Vault to pods over TLS with the bed's own CA (ConfigMap %s in each test namespace)", VaultCAConfigMap)
			addr, caPEM, err := c.vaultTLSFront(vaultURL.Host, &stops)
			if err != nil {
				return nil, nil, err
			}
			c.vaultCA = caPEM
			vault["address"] = "https://" + addr
			vault["caBundle"] = map[string]any{"configMap": VaultCAConfigMap}
		}
		if c.PGAddr, err = c.forward(net.JoinHostPort(b.Vault.Env.PGHost, b.Vault.Env.PGPort), &stops); err != nil {
			return nil, nil, err
		}
		defaults["vault"] = vault
	} else if o.RequireVault {
		return nil, nil, fmt.Errorf("vault bed absent (%s unset): %s", strings.Join(b.VaultMissing, ", "), bed.VaultEnvHint)
	}
	values := map[string]any{
		"image":    map[string]any{"repository": repo(e.Image), "tag": tag(e.Image), "pullPolicy": "Never"},
		"defaults": defaults,
	}
	c.logf("helm install %s charts/secret-injector -n %s (image %s: 2 webhook replicas, self-managed TLS)", Release, ChartNS, e.Image)
	if err := c.helmInstall(ctx, values); err != nil {
		return nil, nil, err
	}
	stops = append(stops, c.helmUninstall)
	if err := c.WaitWebhook(ctx); err != nil {
		return nil, nil, err
	}
	return c, stop, nil
}

func (c *Cluster) logf(format string, args ...any) { fmt.Fprintf(c.log, format+"\n", args...) }

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
func (c *Cluster) forward(target string, stops *[]func()) (string, error) {
	f, err := startForwarder(net.JoinHostPort(c.Gateway, "0"), target)
	if err != nil {
		return "", fmt.Errorf("forward %s from the gateway: %w", target, err)
	}
	*stops = append(*stops, f.Close)
	return f.Addr(), nil
}

func (c *Cluster) helmInstall(ctx context.Context, values map[string]any) error {
	data, err := json.Marshal(values)
	if err != nil {
		return err
	}
	vf := filepath.Join(c.dir, "values.json")
	if err := os.WriteFile(vf, data, 0o600); err != nil {
		return err
	}
	// A release left by an interrupted run is replaced.
	_ = exec.CommandContext(ctx, c.Helm, "uninstall", Release, "-n", ChartNS, "--kubeconfig", c.Kubeconfig, "--wait").Run()
	cmd := exec.CommandContext(ctx, c.Helm, "install", Release, charttest.ChartDir(), "-n", ChartNS, "--create-namespace",
		"--kubeconfig", c.Kubeconfig, "-f", vf, "--wait", "--timeout", "3m")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("helm install: %w\n%s\n%s", err, out, c.Describe(context.Background(), ChartNS))
	}
	return nil
}

func (c *Cluster) helmUninstall() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, c.Helm, "uninstall", Release, "-n", ChartNS, "--kubeconfig", c.Kubeconfig, "--wait").CombinedOutput(); err != nil {
		c.logf("helm uninstall: %v\n%s", err, out)
	}
}

// WaitWebhook waits for both webhook replicas and a caBundle in the
// webhook configuration.
func (c *Cluster) WaitWebhook(ctx context.Context) error {
	err := Poll(ctx, 2*time.Minute, func() (bool, error) {
		d, err := c.Client.AppsV1().Deployments(ChartNS).Get(ctx, Release, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return d.Status.AvailableReplicas == 2, nil
	})
	if err != nil {
		return fmt.Errorf("webhook deployment not available: %w\n%s", err, c.Describe(context.Background(), ChartNS))
	}
	err = Poll(ctx, time.Minute, func() (bool, error) {
		list, err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
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
			if strings.HasPrefix(m.Name, Release) && len(w.ClientConfig.CABundle) > 0 {
				return true
			}
		}
	}
	return false
}

// Poll checks cond until it holds, fails, or timeout passes.
func Poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	return bed.Wait(ctx, timeout, cond)
}
