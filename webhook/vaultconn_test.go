package webhook

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/webhook/certs"
)

// TestEnvtestVaultConnection: through a real API server, a Vault pod gets
// the cluster's CA bundle mounted into its agent and the Vault namespace
// it asked for; the stored pod, after the API server's defaulting, is one
// a reinvoked webhook leaves as it is; and a namespace outside the
// cluster's allow-list fails the create, naming the annotation.
func TestEnvtestVaultConnection(t *testing.T) {
	rc, cs := apiServer(t)
	const ns = "vault-conn"
	createNamespace(t, cs, ns)
	dir := t.TempDir()
	bundle := fileModeBundle(t, dir, certs.Bundle{}, time.Now(), []string{"127.0.0.1"})
	opts := testInjectorOptions()
	opts.Vault.AllowedNamespaces = []string{"trading/prod"}
	opts.Vault.CABundle = &injector.VaultCABundle{Secret: "vault-tls"}
	w := startWebhook(t, Config{TLSMode: TLSModeFile, CertDir: dir, Injector: opts, RestConfig: rc})
	registerWebhook(t, cs, "vault-conn", w.url(), ns, bundle.CACerts)
	waitForAdmission(t, cs, ns)

	got, err := createPod(cs, ns, testPod(func(p *corev1.Pod) {
		p.Annotations[injector.AnnotationVaultNamespace] = "trading/prod"
		p.Annotations[injector.AnnotationVaultAuthMethod] = "jwt"
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(got.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == injector.VaultCAVolumeName })
	if i < 0 || got.Spec.Volumes[i].Secret == nil || got.Spec.Volumes[i].Secret.SecretName != "vault-tls" {
		t.Fatalf("stored pod has no CA volume from Secret vault-tls: %+v", got.Spec.Volumes)
	}
	agents := 0
	for _, c := range got.Spec.InitContainers {
		if c.Name != injector.InitContainerName && c.Name != injector.SidecarName {
			continue
		}
		agents++
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == injector.VaultCAVolumeName && m.ReadOnly && m.MountPath == injector.VaultCADir
		}) {
			t.Errorf("%s does not mount the CA bundle read-only at %s", c.Name, injector.VaultCADir)
		}
		for _, e := range c.Env {
			if e.Name != config.EnvVar {
				continue
			}
			cfg, err := config.Parse([]byte(e.Value), nil)
			if err != nil {
				t.Fatal(err)
			}
			if v := cfg.Backend.Vault; v.CACert != injector.VaultCAFile || v.Namespace != "trading/prod" || v.Auth != "jwt" || v.AuthPath != "auth/jwt" {
				t.Errorf("%s's vault config %+v", c.Name, v)
			}
		}
	}
	if agents != 1 {
		t.Errorf("%d agent containers, want the native sidecar alone", agents)
	}
	if changed, err := injector.Inject(got.DeepCopy(), opts); err != nil || changed {
		t.Errorf("re-injecting the stored pod: changed %v, %v; want no change", changed, err)
	}

	_, err = createPod(cs, ns, testPod(func(p *corev1.Pod) { p.Annotations[injector.AnnotationVaultNamespace] = "research" }), false)
	if err == nil || !strings.Contains(err.Error(), "annotation "+injector.AnnotationVaultNamespace+`: "research" is not one of the Vault namespaces this cluster allows`) {
		t.Fatalf("create with a namespace outside the allow-list: %v", err)
	}
	t.Logf("denial as kubectl shows it: %v", err)
}
