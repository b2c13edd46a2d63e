package ctl_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/ctl"
	"github.com/tradepulse/secret-injector/injector"
)

// TestRefreshRestartsEveryKindOfWorkload walks pods that cannot reload up
// to each kind of owner: StatefulSets and DaemonSets directly, Deployments
// through their ReplicaSet, also for pods injected with mode init (no
// agent to ask: the restart is their refresh). Pods without such an owner
// get a warning naming them.
func TestRefreshRestartsEveryKindOfWorkload(t *testing.T) {
	needBed(t)
	ns := namespace(t, "kinds")
	restart := app{annotations: reloadRestart()}
	initOnly := app{annotations: annotated(map[string]string{
		injector.AnnotationReload: injector.ReloadRestart, injector.AnnotationMode: injector.ModeInit})}

	var pods []*corev1.Pod
	pods = append(pods, restart.statefulSet(t, ns, "db", 2)...)
	pods = append(pods, restart.daemonSet(t, ns, "node-agent", 2)...)
	pods = append(pods, restart.job(t, ns, "migrate"))
	pods = append(pods, restart.bare(t, ns, "debug"))
	pods = append(pods, orphanReplicaSetPod(t, restart, ns, "legacy"))
	_, inits := initOnly.deployment(t, ns, "reporter", 2)

	agent := envAgent(t)
	d := newLocalDialer()
	for _, pod := range pods {
		d.add(pod, agent.addr)
	}
	now, at := tickingClock()

	r := run(t, d, now, "refresh", "-n", ns, "-o", "json")
	if r.err != nil {
		t.Fatalf("refresh failed:\n%s", r)
	}
	var rep ctl.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	// Restarts come in the order of the pods (by name).
	want := []ctl.Restart{
		{Workload: ctl.Workload{Kind: "StatefulSet", Namespace: ns, Name: "db"}, Pods: []string{"db-0", "db-1"}, Outcome: ctl.OutcomeOK, RestartedAt: at(0)},
		{Workload: ctl.Workload{Kind: "DaemonSet", Namespace: ns, Name: "node-agent"}, Pods: []string{"node-agent-node0", "node-agent-node1"}, Outcome: ctl.OutcomeOK, RestartedAt: at(1)},
		{Workload: ctl.Workload{Kind: "Deployment", Namespace: ns, Name: "reporter"}, Pods: []string{inits[0].Name, inits[1].Name}, Outcome: ctl.OutcomeOK, RestartedAt: at(2)},
	}
	if d := cmp.Diff(want, rep.Restarts); d != "" {
		t.Errorf("restarts (-want +got):\n%s", d)
	}
	wantWarnings := []string{
		"pod " + ns + "/debug cannot reload (secrets.tradepulse.io/reload: restart) but was not restarted: it has no controller; restart it yourself",
		"pod " + ns + "/legacy-0 cannot reload (secrets.tradepulse.io/reload: restart) but was not restarted: its ReplicaSet legacy belongs to no Deployment; restart it yourself",
		"pod " + ns + "/migrate-x1 cannot reload (secrets.tradepulse.io/reload: restart) but was not restarted: it is controlled by Job migrate, which cannot be restarted; restart it yourself",
	}
	if d := cmp.Diff(wantWarnings, rep.Warnings); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
	for _, w := range wantWarnings {
		if !containsLine(r.stderr, "warning: "+w) {
			t.Errorf("stderr lacks the warning %q:\n%s", w, r.stderr)
		}
	}

	ctx := testContext(t)
	ss, err := bed.admin.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := bed.admin.AppsV1().DaemonSets(ns).Get(ctx, "node-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]restartState{
		"db":         {ss.Spec.Template.Annotations[ctl.RestartedAtAnnotation], ss.Generation},
		"node-agent": {ds.Spec.Template.Annotations[ctl.RestartedAtAnnotation], ds.Generation},
		"reporter":   deploymentState(t, ns, "reporter"),
	}
	if d := cmp.Diff(map[string]restartState{"db": {at(0), 2}, "node-agent": {at(1), 2}, "reporter": {at(2), 2}}, got); d != "" {
		t.Errorf("workloads read back (-want +got):\n%s", d)
	}
}

// orphanReplicaSetPod creates a ReplicaSet of its own (no Deployment) and
// one pod of it.
func orphanReplicaSetPod(t *testing.T, a app, ns, name string) *corev1.Pod {
	t.Helper()
	tpl := a.template(name)
	rs, err := bed.admin.AppsV1().ReplicaSets(ns).Create(testContext(t), &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: tpl.Labels}, Template: tpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return a.pod(t, ns, name+"-0", tpl, controllerRef("ReplicaSet", name, rs.UID))
}

func containsLine(out, line string) bool { return slices.Contains(strings.Split(out, "\n"), line) }
