package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/injector"
)

// App is what the test app container runs as: a uid the agent must give
// the files to.
const (
	appUID      = 10001
	appPort     = 8080
	appName     = "testapp"
	secretsPath = "/secrets"
)

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newNamespace creates a namespace with the pods' service account and
// deletes it when the test ends.
func (s *suite) newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	ns, err := s.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.checkLeaks(t, ns.Name)
		if t.Failed() {
			t.Logf("namespace %s at failure:\n%s", ns.Name, s.describe(context.Background(), ns.Name))
		}
		_ = s.client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	for _, sa := range []string{bed.PodServiceAccount, "intruder"} {
		_, err = s.client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	return ns.Name
}

// workload is a Deployment of the test app.
type workload struct {
	name, ns       string
	replicas       int32
	backend        bed.Backend // nil: no injection
	annotations    map[string]string
	serviceAccount string
	// sighupDelay holds back the app's SIGHUP handler, as a slow app does.
	sighupDelay time.Duration
}

// deployment builds the Deployment; the backend adds what it needs (the
// env backend's ConfigMap volume).
func (s *suite) deployment(ctx context.Context, w workload) (*appsv1.Deployment, error) {
	sa := w.serviceAccount
	if sa == "" {
		sa = bed.PodServiceAccount
	}
	args := []string{"--dir", secretsPath, "--listen", fmt.Sprintf(":%d", appPort)}
	if w.sighupDelay > 0 {
		args = append(args, "--sighup-handler-delay", w.sighupDelay.String())
	}
	if s.pgAddr != "" {
		args = append(args, "--pg-addr", s.pgAddr)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Labels: map[string]string{"app": w.name}, Annotations: map[string]string{}},
		Spec: corev1.PodSpec{
			ServiceAccountName:            sa,
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			SecurityContext:               &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](appUID), RunAsGroup: ptr.To[int64](appUID)},
			Containers: []corev1.Container{{
				Name:            appName,
				Image:           s.testappImage,
				ImagePullPolicy: corev1.PullNever,
				Args:            args,
				Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: appPort}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(appPort)}},
					PeriodSeconds: 1,
				},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
	if w.backend != nil {
		pod.Annotations[injector.AnnotationInject] = "true"
		for k, v := range w.annotations {
			pod.Annotations[injector.Prefix+k] = v
		}
		if err := w.backend.PreparePod(ctx, pod); err != nil {
			return nil, err
		}
	}
	replicas := w.replicas
	if replicas == 0 {
		replicas = 1
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: w.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromString("100%")), MaxUnavailable: ptr.To(intstr.FromInt32(0))}},
		},
	}, nil
}

// deploy creates the workload's Deployment and waits until it is available.
func (s *suite) deploy(t *testing.T, ctx context.Context, w workload, timeout time.Duration) []corev1.Pod {
	t.Helper()
	d, err := s.deployment(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.AppsV1().Deployments(w.ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s: %v", w.name, err)
	}
	return s.waitAvailable(t, ctx, w.ns, w.name, timeout)
}

// waitAvailable waits until every replica of the Deployment's newest
// template is available, and returns its running pods.
func (s *suite) waitAvailable(t *testing.T, ctx context.Context, ns, name string, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var last string
	err := poll(ctx, timeout, func() (bool, error) {
		d, err := s.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		want := ptr.Deref(d.Spec.Replicas, 1)
		st := d.Status
		last = fmt.Sprintf("generation %d/%d, updated %d, available %d, total %d of %d", st.ObservedGeneration, d.Generation, st.UpdatedReplicas, st.AvailableReplicas, st.Replicas, want)
		return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.AvailableReplicas == want && st.Replicas == want, nil
	})
	if err != nil {
		t.Fatalf("deployment %s/%s not available after %s (%s): %v", ns, name, timeout, last, err)
	}
	return s.runningPods(t, ctx, ns, name)
}

func (s *suite) runningPods(t *testing.T, ctx context.Context, ns, app string) []corev1.Pod {
	t.Helper()
	list, err := s.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": app}.String()})
	if err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			pods = append(pods, p)
		}
	}
	return pods
}

// appFile is what the test app reports of one file: never its content.
type appFile struct {
	SHA256 string `json:"sha256"`
	Mode   string `json:"mode"`
	UID    int    `json:"uid"`
	GID    int    `json:"gid"`
}

// appGet calls the test app in pod p.
func appGet(ctx context.Context, p corev1.Pod, path string, into any) error {
	if p.Status.PodIP == "" {
		return fmt.Errorf("pod %s has no IP", p.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d%s", p.Status.PodIP, appPort, path), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, into)
}

func appFiles(ctx context.Context, p corev1.Pod) (map[string]appFile, error) {
	var files map[string]appFile
	err := appGet(ctx, p, "/files", &files)
	return files, err
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// containerStatus returns the status of the named container or init container.
func containerStatus(p corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// describe is `kubectl describe` of a namespace's workloads and pods, and
// the agents' logs, for a failed test.
func (s *suite) describe(ctx context.Context, ns string) string {
	kubectl := os.Getenv("SI_KUBECTL")
	if kubectl == "" {
		return "(SI_KUBECTL unset: no kubectl describe)"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var b strings.Builder
	run := func(args ...string) {
		out, _ := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", s.kubeconfig, "-n", ns}, args...)...).CombinedOutput()
		fmt.Fprintf(&b, "$ kubectl -n %s %s\n%s\n", ns, strings.Join(args, " "), out)
	}
	run("get", "deploy,rs,pods", "-o", "wide")
	run("describe", "pods")
	run("get", "events", "--sort-by=.lastTimestamp")
	run("logs", "--all-containers", "--prefix", "--tail=40", "-l", "app")
	if ns == chartNS {
		run("logs", "--all-containers", "--prefix", "--tail=60", "-l", "app.kubernetes.io/name=secret-injector")
	}
	return b.String()
}

// kubectl runs kubectl against the cluster and returns its output.
func (s *suite) kubectl(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, os.Getenv("SI_KUBECTL"), append([]string{"--kubeconfig", s.kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

// cli runs the operator's secret-injector command (status, refresh, revoke).
func (s *suite) cli(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.binary, append(args, "--kubeconfig", s.kubeconfig)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// agentsInjected says whether pod p carries both agent containers.
func agentsInjected(p corev1.Pod) bool {
	names := []string{}
	for _, c := range p.Spec.InitContainers {
		names = append(names, c.Name)
	}
	return slices.Contains(names, injector.InitContainerName) && slices.Contains(names, injector.SidecarName)
}
