package clusterbed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
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

// The test app container: e2e/images/testapp, run as a uid of its own that
// the agent must give the files to.
const (
	AppUID      = 10001
	AppPort     = 8080
	AppName     = "testapp"
	SecretsPath = "/secrets"
	// IntruderServiceAccount is a second service account in every
	// namespace, which Vault's role does not admit.
	IntruderServiceAccount = "intruder"
)

// NewNamespace creates a namespace with the pods' service accounts and,
// when pods reach Vault over TLS, the Vault CA bundle's ConfigMap.
func (c *Cluster) NewNamespace(ctx context.Context, prefix string) (string, error) {
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create namespace: %w", err)
	}
	for _, sa := range []string{bed.PodServiceAccount, IntruderServiceAccount} {
		_, err = c.Client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("create service account %s: %w", sa, err)
		}
	}
	if err := c.putVaultCA(ctx, ns.Name); err != nil {
		return "", err
	}
	return ns.Name, nil
}

// Workload is a Deployment of the test app.
type Workload struct {
	Name, Namespace string
	Replicas        int32
	// Backend opts the pods in with Annotations (without the prefix); nil
	// leaves them plain.
	Backend        bed.Backend
	Annotations    map[string]string
	ServiceAccount string
	// SIGHUPDelay holds back the app's SIGHUP handler, as a slow app does.
	SIGHUPDelay time.Duration
	// Command states the app container's command (the image's entrypoint
	// is /testapp), as env mode needs; nil leaves it to the image.
	Command []string
}

// Deployment builds w's Deployment; the backend adds what it needs (the
// env backend's ConfigMap volume).
func (c *Cluster) Deployment(ctx context.Context, w Workload) (*appsv1.Deployment, error) {
	sa := w.ServiceAccount
	if sa == "" {
		sa = bed.PodServiceAccount
	}
	args := []string{"--dir", SecretsPath, "--listen", fmt.Sprintf(":%d", AppPort)}
	if w.SIGHUPDelay > 0 {
		args = append(args, "--sighup-handler-delay", w.SIGHUPDelay.String())
	}
	if c.PGAddr != "" {
		args = append(args, "--pg-addr", c.PGAddr)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.Namespace, Labels: map[string]string{"app": w.Name}, Annotations: map[string]string{}},
		Spec: corev1.PodSpec{
			ServiceAccountName:            sa,
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			SecurityContext:               &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](AppUID), RunAsGroup: ptr.To[int64](AppUID)},
			Containers: []corev1.Container{{
				Name:            AppName,
				Image:           c.TestappImage,
				ImagePullPolicy: corev1.PullNever,
				Command:         w.Command,
				Args:            args,
				Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: AppPort}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(AppPort)}},
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
	if w.Backend != nil {
		pod.Annotations[injector.AnnotationInject] = "true"
		for k, v := range w.Annotations {
			pod.Annotations[injector.Prefix+k] = v
		}
		if err := w.Backend.PreparePod(ctx, pod); err != nil {
			return nil, err
		}
	}
	replicas := w.Replicas
	if replicas == 0 {
		replicas = 1
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.Name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromString("100%")), MaxUnavailable: ptr.To(intstr.FromInt32(0))}},
		},
	}, nil
}

// Deploy creates w's Deployment and waits until it is available.
func (c *Cluster) Deploy(ctx context.Context, w Workload, timeout time.Duration) ([]corev1.Pod, error) {
	d, err := c.Deployment(ctx, w)
	if err != nil {
		return nil, err
	}
	if _, err := c.Client.AppsV1().Deployments(w.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create deployment %s: %w", w.Name, err)
	}
	return c.WaitAvailable(ctx, w.Namespace, w.Name, timeout)
}

// WaitAvailable waits until every replica of the Deployment's newest
// template is available, and returns its running pods.
func (c *Cluster) WaitAvailable(ctx context.Context, ns, name string, timeout time.Duration) ([]corev1.Pod, error) {
	var last string
	err := Poll(ctx, timeout, func() (bool, error) {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		want := ptr.Deref(d.Spec.Replicas, 1)
		st := d.Status
		last = fmt.Sprintf("generation %d/%d, updated %d, available %d, total %d of %d", st.ObservedGeneration, d.Generation, st.UpdatedReplicas, st.AvailableReplicas, st.Replicas, want)
		return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.AvailableReplicas == want && st.Replicas == want, nil
	})
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s not available after %s (%s): %w", ns, name, timeout, last, err)
	}
	return c.RunningPods(ctx, ns, name)
}

// RunningPods are the running, not terminating, pods labelled app=name.
func (c *Cluster) RunningPods(ctx context.Context, ns, app string) ([]corev1.Pod, error) {
	list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": app}.String()})
	if err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// AppFile is what the test app reports of one file: never its content.
type AppFile struct {
	SHA256 string `json:"sha256"`
	Mode   string `json:"mode"`
	UID    int    `json:"uid"`
	GID    int    `json:"gid"`
	Error  string `json:"error"`
}

// AppGet calls the test app in pod p (the host routes to pod IPs).
func AppGet(ctx context.Context, p corev1.Pod, path string, into any) error {
	if p.Status.PodIP == "" {
		return fmt.Errorf("pod %s has no IP", p.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d%s", p.Status.PodIP, AppPort, path), nil)
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

// AppFiles is the app's view of its secrets volume.
func AppFiles(ctx context.Context, p corev1.Pod) (map[string]AppFile, error) {
	var files map[string]AppFile
	err := AppGet(ctx, p, "/files", &files)
	return files, err
}

// SHA256 is the hex hash the app reports for a file holding s.
func SHA256(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// ContainerStatus returns the status of the named container or init
// container.
func ContainerStatus(p corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// AgentsInjected says whether pod p carries the agent as a native sidecar
// (an init container with restartPolicy Always), which fills the volume
// before the app starts.
func AgentsInjected(p corev1.Pod) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == injector.SidecarName && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return true
		}
	}
	return false
}

// IsReady says whether p's Ready condition is true.
func IsReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Describe is `kubectl describe` of a namespace's workloads and pods, its
// events and its containers' last log lines, for a failure report.
func (c *Cluster) Describe(ctx context.Context, ns string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var b strings.Builder
	run := func(args ...string) {
		out, _ := c.Kubectl(ctx, append([]string{"-n", ns}, args...)...)
		fmt.Fprintf(&b, "$ kubectl -n %s %s\n%s\n", ns, strings.Join(args, " "), out)
	}
	run("get", "deploy,rs,pods", "-o", "wide")
	run("describe", "pods")
	run("get", "events", "--sort-by=.lastTimestamp")
	run("logs", "--all-containers", "--prefix", "--tail=40", "-l", "app")
	if ns == ChartNS {
		run("logs", "--all-containers", "--prefix", "--tail=60", "-l", "app.kubernetes.io/name=secret-injector")
	}
	return b.String()
}

// Kubectl runs kubectl against the cluster and returns its output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, c.Env.Kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

// CLI runs the operator's secret-injector command (status, refresh,
// revoke) against the cluster.
func (c *Cluster) CLI(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, c.Binary, append(args, "--kubeconfig", c.Kubeconfig)...).CombinedOutput()
	return string(out), err
}
