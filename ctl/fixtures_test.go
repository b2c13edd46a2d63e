package ctl_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/injector"
)

// injectOptions are the cluster defaults the fixtures' pods are injected
// with, the way the webhook would.
var injectOptions = injector.Options{
	DefaultBackend: "gcp", EnabledBackends: []string{"gcp", "vault"}, GCPProject: "tradepulse",
	AgentImage: "ghcr.io/tradepulse/secret-injector:test", NativeSidecars: true,
	Vault: injector.VaultDefaults{Address: "https://vault.vault.svc:8200", Role: "trading"},
}

func randSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// namespace creates a fresh namespace and returns its name.
func namespace(t *testing.T, prefix string) string {
	t.Helper()
	name := prefix + "-" + randSuffix()
	_, err := bed.admin.CoreV1().Namespaces().Create(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// app is the pod template of a fixture workload.
type app struct {
	labels      map[string]string
	annotations map[string]string
	// classic runs the sidecar as a regular container instead of a native
	// one.
	classic bool
	// phase of the created pods; "" means Running.
	phase corev1.PodPhase
}

// annotated returns the user's annotations of an opted-in pod with two
// secrets, plus extra.
func annotated(extra map[string]string) map[string]string {
	a := map[string]string{
		injector.AnnotationInject:                            "true",
		injector.AnnotationSecretPrefix + "api-key":          "exchanges-binance-api-key",
		injector.AnnotationSecretPrefix + "api-secret":       "exchanges-binance-api-secret",
		injector.AnnotationFormatPrefix + "api-secret":       "raw",
		injector.AnnotationRefreshIntervalPrefix + "api-key": "30s",
	}
	maps.Copy(a, extra)
	return a
}

func (a app) template(name string) corev1.PodTemplateSpec {
	labels := map[string]string{"app": name}
	maps.Copy(labels, a.labels)
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: maps.Clone(a.annotations)},
		Spec: corev1.PodSpec{ServiceAccountName: name, Containers: []corev1.Container{{
			Name: "app", Image: "ghcr.io/tradepulse/" + name + ":1",
			SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](10001), RunAsGroup: ptr.To[int64](10001)},
		}}},
	}
}

// pod creates a pod from tpl as the webhook would have injected it (when
// it opts in), owned by owner, and sets its status to phase.
func (a app) pod(t *testing.T, ns, name string, tpl corev1.PodTemplateSpec, owner *metav1.OwnerReference) *corev1.Pod {
	t.Helper()
	ctx := testContext(t)
	pod := &corev1.Pod{ObjectMeta: *tpl.ObjectMeta.DeepCopy(), Spec: *tpl.Spec.DeepCopy()}
	pod.Name, pod.Namespace = name, ns
	if owner != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	opts := injectOptions
	opts.NativeSidecars = !a.classic
	if _, err := injector.Inject(pod, opts); err != nil {
		t.Fatalf("inject pod %s/%s: %v", ns, name, err)
	}
	created, err := bed.admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	phase := a.phase
	if phase == "" {
		phase = corev1.PodRunning
	}
	created.Status.Phase = phase
	if created, err = bed.admin.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("set pod %s/%s %s: %v", ns, name, phase, err)
	}
	return created
}

func controllerRef(kind, name string, uid types.UID) *metav1.OwnerReference {
	return &metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: name, UID: uid, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
}

// deployment creates a Deployment, its ReplicaSet and n pods owned by it,
// as the controllers would (envtest runs none).
func (a app) deployment(t *testing.T, ns, name string, n int) (*appsv1.Deployment, []*corev1.Pod) {
	t.Helper()
	ctx := testContext(t)
	tpl := a.template(name)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	dep, err := bed.admin.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(int32(n)), Selector: sel, Template: tpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s/%s: %v", ns, name, err)
	}
	rsName := name + "-7f9c4"
	rs, err := bed.admin.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: rsName, OwnerReferences: []metav1.OwnerReference{*controllerRef("Deployment", name, dep.UID)}},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(n)), Selector: sel, Template: tpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create replicaset %s/%s: %v", ns, rsName, err)
	}
	var pods []*corev1.Pod
	for i := range n {
		pods = append(pods, a.pod(t, ns, fmt.Sprintf("%s-%d", rsName, i), tpl, controllerRef("ReplicaSet", rsName, rs.UID)))
	}
	return dep, pods
}

// statefulSet creates a StatefulSet and n pods owned by it.
func (a app) statefulSet(t *testing.T, ns, name string, n int) []*corev1.Pod {
	t.Helper()
	tpl := a.template(name)
	ss, err := bed.admin.AppsV1().StatefulSets(ns).Create(testContext(t), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(int32(n)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: tpl, ServiceName: name},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create statefulset %s/%s: %v", ns, name, err)
	}
	var pods []*corev1.Pod
	for i := range n {
		pods = append(pods, a.pod(t, ns, fmt.Sprintf("%s-%d", name, i), tpl, controllerRef("StatefulSet", name, ss.UID)))
	}
	return pods
}

// daemonSet creates a DaemonSet and n pods owned by it.
func (a app) daemonSet(t *testing.T, ns, name string, n int) []*corev1.Pod {
	t.Helper()
	tpl := a.template(name)
	ds, err := bed.admin.AppsV1().DaemonSets(ns).Create(testContext(t), &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}, Template: tpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create daemonset %s/%s: %v", ns, name, err)
	}
	var pods []*corev1.Pod
	for i := range n {
		pods = append(pods, a.pod(t, ns, fmt.Sprintf("%s-node%d", name, i), tpl, controllerRef("DaemonSet", name, ds.UID)))
	}
	return pods
}

// job creates a Job and one pod owned by it.
func (a app) job(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	tpl := a.template(name)
	tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	job, err := bed.admin.BatchV1().Jobs(ns).Create(testContext(t), &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       batchv1.JobSpec{Template: tpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create job %s/%s: %v", ns, name, err)
	}
	ref := controllerRef("Job", name, job.UID)
	ref.APIVersion = "batch/v1"
	// The Job's template carries the selector labels the API server added.
	return a.pod(t, ns, name+"-x1", job.Spec.Template, ref)
}

// bare creates a pod without an owner.
func (a app) bare(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	return a.pod(t, ns, name, a.template(name), nil)
}
