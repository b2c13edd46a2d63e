package ctl

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/injector"
)

// injectedPod is a running pod as the webhook injects it.
func injectedPod(t *testing.T, native bool, extra map[string]string) *corev1.Pod {
	t.Helper()
	ann := map[string]string{
		injector.AnnotationInject:                   "true",
		injector.AnnotationSecretPrefix + "api-key": "exchanges-binance-api-key",
		injector.AnnotationSecretPrefix + "db":      "tradepulse/postgres",
	}
	for k, v := range extra {
		ann[k] = v
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "trading", Name: "api-1", Annotations: ann},
		Spec:       corev1.PodSpec{ServiceAccountName: "api", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	opts := injector.Options{DefaultBackend: "gcp", GCPProject: "tradepulse", AgentImage: "agent:1", NativeSidecars: native}
	if _, err := injector.Inject(pod, opts); err != nil {
		t.Fatal(err)
	}
	return pod
}

func TestPodFacts(t *testing.T) {
	type facts struct {
		Injected, CannotReload, HasSidecar, HoldsDB, HoldsNope bool
		Port                                                   int
		Unreachable                                            string
	}
	factsOf := func(pod *corev1.Pod) facts {
		port, _ := AdminPort(pod)
		return facts{injected(pod), cannotReload(pod), sidecar(pod) != nil, holdsSecret(pod, "db"), holdsSecret(pod, "nope"), port, unreachable(pod)}
	}
	running := facts{Injected: true, HasSidecar: true, HoldsDB: true, Port: 9101}
	for _, tc := range []struct {
		name string
		pod  func(t *testing.T) *corev1.Pod
		want facts
	}{
		{name: "native sidecar", pod: func(t *testing.T) *corev1.Pod { return injectedPod(t, true, nil) }, want: running},
		{name: "classic sidecar", pod: func(t *testing.T) *corev1.Pod { return injectedPod(t, false, nil) }, want: running},
		{name: "reload restart", pod: func(t *testing.T) *corev1.Pod {
			return injectedPod(t, true, map[string]string{injector.AnnotationReload: injector.ReloadRestart})
		}, want: facts{Injected: true, CannotReload: true, HasSidecar: true, HoldsDB: true, Port: 9101}},
		{name: "mode init: no sidecar, config on the init container", pod: func(t *testing.T) *corev1.Pod {
			return injectedPod(t, true, map[string]string{injector.AnnotationMode: injector.ModeInit})
		}, want: facts{Injected: true, HoldsDB: true,
			Unreachable: "no secret-injector-agent sidecar (mode init): secrets are fetched only when the pod starts"}},
		{name: "admin address from the agent config", pod: func(t *testing.T) *corev1.Pod {
			pod := injectedPod(t, true, nil)
			c := sidecar(pod)
			for i, e := range c.Env {
				if e.Name == config.EnvVar {
					c.Env[i].Value = `{"adminAddr":"127.0.0.1:9200","secrets":[{"name":"db"}]}`
				}
			}
			return pod
		}, want: facts{Injected: true, HasSidecar: true, HoldsDB: true, Port: 9200}},
		{name: "pending", pod: func(t *testing.T) *corev1.Pod {
			pod := injectedPod(t, true, nil)
			pod.Status.Phase = corev1.PodPending
			return pod
		}, want: facts{Injected: true, HasSidecar: true, HoldsDB: true, Port: 9101,
			Unreachable: "not running (Pending); its agent fetches every secret when it starts"}},
		{name: "terminating", pod: func(t *testing.T) *corev1.Pod {
			pod := injectedPod(t, true, nil)
			pod.DeletionTimestamp = &metav1.Time{Time: time.Now()}
			return pod
		}, want: facts{Injected: true, HasSidecar: true, HoldsDB: true, Port: 9101, Unreachable: "terminating"}},
		{name: "not injected", pod: func(t *testing.T) *corev1.Pod {
			return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		}, want: facts{HoldsDB: true, HoldsNope: true,
			Unreachable: "no secret-injector-agent sidecar (mode init): secrets are fetched only when the pod starts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, factsOf(tc.pod(t))); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestSidecarHint(t *testing.T) {
	pod := injectedPod(t, true, nil)
	if got := sidecarHint(pod); got != "" {
		t.Errorf("no status: hint %q", got)
	}
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: injector.SidecarName,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	if got, want := sidecarHint(pod), "container secret-injector-agent is waiting: CrashLoopBackOff"; got != want {
		t.Errorf("hint %q, want %q", got, want)
	}
}
