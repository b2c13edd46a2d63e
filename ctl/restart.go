package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// RestartedAtAnnotation is what `kubectl rollout restart` sets on the pod
// template; changing it rolls the workload.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// fieldManager names this tool in the workloads' managedFields.
const fieldManager = "secret-injector"

// Workload kinds that can be restarted.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
)

// Workload names a Deployment, StatefulSet or DaemonSet.
type Workload struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String is kubectl's spelling, e.g. "deployment.apps/api in trading".
func (w Workload) String() string {
	return fmt.Sprintf("%s.apps/%s in %s", strings.ToLower(w.Kind), w.Name, w.Namespace)
}

// owners walks pods up to their workload, remembering ReplicaSets.
type owners struct {
	client      kubernetes.Interface
	replicaSets map[string]*metav1.OwnerReference // ns/name → its controller
}

func newOwners(client kubernetes.Interface) *owners {
	return &owners{client: client, replicaSets: map[string]*metav1.OwnerReference{}}
}

// workload returns the Deployment, StatefulSet or DaemonSet that controls
// pod, or says why there is none (a bare pod, a Job, a ReplicaSet of its
// own).
func (o *owners) workload(ctx context.Context, pod *corev1.Pod) (w Workload, why string, err error) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return w, "it has no controller", nil
	}
	if apps := strings.HasPrefix(ref.APIVersion, "apps/"); apps {
		switch ref.Kind {
		case KindStatefulSet, KindDaemonSet:
			return Workload{Kind: ref.Kind, Namespace: pod.Namespace, Name: ref.Name}, "", nil
		case "ReplicaSet":
			dep, err := o.replicaSetOwner(ctx, pod.Namespace, ref.Name)
			if err != nil {
				return w, "", err
			}
			if dep == nil || dep.Kind != KindDeployment || !strings.HasPrefix(dep.APIVersion, "apps/") {
				return w, "its ReplicaSet " + ref.Name + " belongs to no Deployment", nil
			}
			return Workload{Kind: KindDeployment, Namespace: pod.Namespace, Name: dep.Name}, "", nil
		}
	}
	return w, fmt.Sprintf("it is controlled by %s %s, which cannot be restarted", ref.Kind, ref.Name), nil
}

func (o *owners) replicaSetOwner(ctx context.Context, ns, name string) (*metav1.OwnerReference, error) {
	key := ns + "/" + name
	if ref, ok := o.replicaSets[key]; ok {
		return ref, nil
	}
	rs, err := o.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("getting ReplicaSet %s: %w", key, err)
	}
	ref := metav1.GetControllerOf(rs)
	o.replicaSets[key] = ref
	return ref, nil
}

// restartPatch is the strategic merge patch of `kubectl rollout restart`.
func restartPatch(at string) []byte {
	p := map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{RestartedAtAnnotation: at},
	}}}}
	b, _ := json.Marshal(p) // a map of strings always marshals
	return b
}

// restart rolls w the way `kubectl rollout restart` does. A paused
// Deployment is refused, as kubectl refuses it: it would not roll.
func restart(ctx context.Context, client kubernetes.Interface, w Workload, now time.Time) (string, error) {
	at := now.Format(time.RFC3339)
	patch := restartPatch(at)
	opts := metav1.PatchOptions{FieldManager: fieldManager}
	var err error
	switch w.Kind {
	case KindDeployment:
		d, gerr := client.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if gerr != nil {
			return "", fmt.Errorf("getting %s: %w", w, gerr)
		}
		if d.Spec.Paused {
			return "", fmt.Errorf("%s is paused: run kubectl rollout resume first", w)
		}
		_, err = client.AppsV1().Deployments(w.Namespace).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
	case KindStatefulSet:
		_, err = client.AppsV1().StatefulSets(w.Namespace).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
	case KindDaemonSet:
		_, err = client.AppsV1().DaemonSets(w.Namespace).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
	default:
		return "", fmt.Errorf("cannot restart a %s", w.Kind)
	}
	if err != nil {
		return "", fmt.Errorf("patching %s: %w", w, err)
	}
	return at, nil
}
