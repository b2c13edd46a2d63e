package cluster

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/clusterbed"
	"github.com/tradepulse/secret-injector/injector"
)

// Vault over TLS with a private CA: the bed serves Vault to pods only over
// TLS, with a certificate of its own CA, which the chart's
// defaults.vault.caBundle names (a ConfigMap in each namespace). The
// kubelet mounts the bundle into the agent containers, the agent trusts it
// and the pod gets its files; in a namespace without the ConfigMap the
// kubelet does not start the pod, and says why.
func TestVaultOverTLS(t *testing.T) {
	s := need(t)
	if s.Bed.Vault == nil {
		t.Skip("no Vault bed")
	}
	ctx := testContext(t, 4*time.Minute)
	ns := s.newNamespace(t, "real-vault-tls")
	b := s.Bed.Backends["vault"]
	rb := bed.NewRunbook("gemini")
	provision(t, ctx, rb, b)
	pods := s.deploy(t, ctx, clusterbed.Workload{Name: "tls", Namespace: ns, Backend: b, Annotations: rb.Annotations(b, "1m")}, 3*time.Minute)
	checkFiles(t, ctx, pods[0], rb)

	var agent *corev1.Container
	for i, c := range pods[0].Spec.InitContainers {
		if c.Name == injector.SidecarName {
			agent = &pods[0].Spec.InitContainers[i]
		}
	}
	if agent == nil {
		t.Fatal("no native sidecar")
	}
	var cfg *config.Config
	for _, e := range agent.Env {
		if e.Name == config.EnvVar {
			var err error
			if cfg, err = config.Parse([]byte(e.Value), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if cfg == nil || cfg.Backend.Vault == nil {
		t.Fatal("the agent carries no Vault config")
	}
	if v := cfg.Backend.Vault; !strings.HasPrefix(v.Address, "https://") || v.CACert != injector.VaultCAFile {
		t.Errorf("the agent reached Vault at %s with caCert %q; want https and %s", v.Address, v.CACert, injector.VaultCAFile)
	}

	// Without the CA bundle in its namespace the pod never starts.
	bare := s.newNamespace(t, "real-vault-noca")
	if err := s.Client.CoreV1().ConfigMaps(bare).Delete(ctx, clusterbed.VaultCAConfigMap, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	d, err := s.Deployment(ctx, clusterbed.Workload{Name: "noca", Namespace: bare, Backend: b, Annotations: rb.Annotations(b, "1m")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.AppsV1().Deployments(bare).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var why string
	if err := poll(ctx, 2*time.Minute, func() (bool, error) {
		evs, err := s.Client.CoreV1().Events(bare).List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedMount"})
		if err != nil {
			return false, nil
		}
		for _, e := range evs.Items {
			if strings.Contains(e.Message, clusterbed.VaultCAConfigMap) {
				why = e.Message
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("no FailedMount event names the missing %s ConfigMap: %v", clusterbed.VaultCAConfigMap, err)
	}
	t.Logf("the kubelet says: %s", why)
	list, err := s.Client.CoreV1().Pods(bare).List(ctx, metav1.ListOptions{LabelSelector: "app=noca"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		if p.Status.Phase != corev1.PodPending {
			t.Errorf("pod %s without the CA bundle is %s, want Pending", p.Name, p.Status.Phase)
		}
	}
}
