package charttest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/tradepulse/secret-injector/injector"
)

// notesPodStart and notesPodEnd delimit the ready-to-paste pod in NOTES.txt.
const (
	notesPodStart = "kubectl apply -f - <<'EOF'\n"
	notesPodEnd   = "\nEOF\n"
)

// renderNotes runs helm install --dry-run against the API server (helm
// renders NOTES.txt only for an install, and asks the cluster its version)
// and returns the notes.
func renderNotes(t *testing.T, helm, kubeconfig string, rc renderCase) string {
	t.Helper()
	out, err := runHelm(helm, "install", ReleaseName, ChartDir(), "--dry-run=client",
		"--kubeconfig", kubeconfig, "--namespace", testNamespace, "--values", rc.valuesFile)
	if err != nil {
		t.Fatal(err)
	}
	_, notes, ok := strings.Cut(string(out), "\nNOTES:\n")
	if !ok {
		t.Fatalf("helm install printed no NOTES:\n%s", out)
	}
	return notes
}

// checkNotes: for each default backend, the pod NOTES.txt prints can be
// pasted as is — it is a valid Pod, and the injector, configured with the
// flags the chart gives the webhook, injects it — and the notes say how to
// check the result.
func checkNotes(t *testing.T, env *envtest.Environment, helm string) {
	user, err := env.AddUser(envtest.User{Name: "chart-notes", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"default", "backend-gcp", "backend-vault", "backend-aws"} {
		t.Run(name, func(t *testing.T) {
			rc := renderCaseNamed(t, name)
			notes := renderNotes(t, helm, kubeconfig, rc)
			for _, want := range []string{"rollout status", "kubectl -n default exec secret-injector-demo -c app -- ls -lR /secrets",
				"port-forward pod/secret-injector-demo 9101:9101", "/v1/status"} {
				if !strings.Contains(notes, want) {
					t.Errorf("notes do not say %q", want)
				}
			}
			_, rest, ok := strings.Cut(notes, notesPodStart)
			podYAML, _, ok2 := strings.Cut(rest, notesPodEnd)
			if !ok || !ok2 {
				t.Fatalf("notes hold no heredoc pod:\n%s", notes)
			}
			var pod corev1.Pod
			if err := yaml.UnmarshalStrict([]byte(podYAML), &pod); err != nil {
				t.Fatalf("the pasted pod is not a valid Pod: %v\n%s", err, podYAML)
			}
			for _, key := range []string{
				injector.AnnotationInject,
				injector.AnnotationSecretPrefix + "postgres-tls",
				injector.AnnotationFormatPrefix + "postgres-tls",
				injector.AnnotationFieldsPrefix + "postgres-tls",
				injector.AnnotationSecretPrefix + "binance-api-key",
			} {
				if pod.Annotations[key] == "" {
					t.Errorf("pod lacks annotation %s", key)
				}
			}

			objs, err := Render(helm, rc.values, testNamespace)
			if err != nil {
				t.Fatal(err)
			}
			_, flags := webhookArgs(t, objs)
			opts := optionsFromFlags(t, flags)
			if opts.DefaultBackend == "vault" && pod.Annotations[injector.AnnotationVaultRole] == "" {
				t.Error("vault pod without a vault-role annotation")
			}
			changed, err := injector.Inject(&pod, opts)
			if err != nil {
				t.Fatalf("the injector denies the pasted pod: %v", err)
			}
			if !changed || pod.Annotations[injector.AnnotationStatus] != injector.StatusInjected {
				t.Fatal("the injector left the pasted pod alone")
			}
			names := func(cs []corev1.Container) []string {
				var out []string
				for _, c := range cs {
					out = append(out, c.Name)
				}
				return out
			}
			all := append(names(pod.Spec.InitContainers), names(pod.Spec.Containers)...)
			if !slices.Contains(all, injector.SidecarName) {
				t.Errorf("injected pod has containers %v, want %s", all, injector.SidecarName)
			}
		})
	}
}
