package ctl_test

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/ctl"
	"github.com/tradepulse/secret-injector/injector"
)

// tickingClock returns T0, T0+1s, T0+2s, … so that two restarts of one
// workload would write different values and both show.
func tickingClock() (now func() time.Time, at func(i int) string) {
	t0 := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	var mu sync.Mutex
	calls := 0
	now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return t0.Add(time.Duration(calls-1) * time.Second)
	}
	return now, func(i int) string { return t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339) }
}

// restartState is what a rollout restart leaves on a workload: the
// template annotation and a new generation per template change.
type restartState struct {
	RestartedAt string
	Generation  int64
}

func deploymentState(t *testing.T, ns, name string) restartState {
	t.Helper()
	d, err := bed.admin.AppsV1().Deployments(ns).Get(testContext(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return restartState{d.Spec.Template.Annotations[ctl.RestartedAtAnnotation], d.Generation}
}

func reloadRestart() map[string]string {
	return annotated(map[string]string{injector.AnnotationReload: injector.ReloadRestart})
}

func refreshPosts(pods ...*corev1.Pod) []string {
	var want []string
	for _, p := range pods {
		want = append(want, p.Namespace+"/"+p.Name+" POST /v1/refresh")
	}
	slices.Sort(want)
	return want
}

func sorted(s []string) []string { slices.Sort(s); return s }

func TestRefreshRestartsOnlyWorkloadsThatCannotReload(t *testing.T) {
	needBed(t)
	ns := namespace(t, "trading")
	part := map[string]string{"app.kubernetes.io/part-of": "trading"}
	_, api := app{labels: part, annotations: reloadRestart()}.deployment(t, ns, "api", 3)
	_, worker := app{labels: part, annotations: annotated(map[string]string{injector.AnnotationReload: injector.ReloadNone})}.deployment(t, ns, "worker", 2)
	d := newLocalDialer()
	for _, pod := range append(slices.Clone(api), worker...) {
		d.add(pod, envAgent(t).addr)
	}
	now, at := tickingClock()

	r := run(t, d, now, "refresh", "-n", ns, "-l", "app.kubernetes.io/part-of=trading")
	if r.err != nil {
		t.Fatalf("refresh failed:\n%s", r)
	}
	if d := cmp.Diff(refreshPosts(append(slices.Clone(api), worker...)...), sorted(d.sent("POST"))); d != "" {
		t.Errorf("refresh requests (-want +got):\n%s", d)
	}
	if d := cmp.Diff(restartState{at(0), 2}, deploymentState(t, ns, "api")); d != "" {
		t.Errorf("api, which cannot reload, must be restarted once (-want +got):\n%s", d)
	}
	if d := cmp.Diff(restartState{"", 1}, deploymentState(t, ns, "worker")); d != "" {
		t.Errorf("worker, which can reload, must not be restarted (-want +got):\n%s", d)
	}
	wantOut := []string{
		"NAMESPACE POD RESULT",
		ns + " api-7f9c4-0 ok: refreshed 2 secrets (2 unchanged)",
		ns + " api-7f9c4-1 ok: refreshed 2 secrets (2 unchanged)",
		ns + " api-7f9c4-2 ok: refreshed 2 secrets (2 unchanged)",
		ns + " worker-7f9c4-0 ok: refreshed 2 secrets (2 unchanged)",
		ns + " worker-7f9c4-1 ok: refreshed 2 secrets (2 unchanged)",
		"WORKLOAD RESULT PODS THAT CANNOT RELOAD",
		"deployment.apps/api in " + ns + " restarted api-7f9c4-0,api-7f9c4-1,api-7f9c4-2",
	}
	if d := cmp.Diff(wantOut, normalize(r.stdout)); d != "" {
		t.Errorf("stdout (-want +got):\n%s", d)
	}
	progress := regexp.MustCompile(`(?m)^\[[1-5]/5\] ` + ns + `/(api|worker)-7f9c4-\d: refreshed 2 secrets`)
	if n := len(progress.FindAllString(r.stderr, -1)); n != 5 {
		t.Errorf("%d progress lines, want 5:\n%s", n, r.stderr)
	}
	if !strings.HasSuffix(r.stderr, "5 pods: 5 ok, 0 failed; 1 workload: 1 restarted\n") {
		t.Errorf("stderr does not end with the summary:\n%s", r.stderr)
	}
}

// normalize collapses each line's runs of spaces, to compare tables.
func normalize(out string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines = append(lines, strings.Join(f, " "))
		}
	}
	return lines
}

func TestRefreshWithAnAgentDown(t *testing.T) {
	needBed(t)
	ns := namespace(t, "trading")
	_, worker := app{annotations: annotated(nil)}.deployment(t, ns, "worker", 3)
	_, api := app{annotations: reloadRestart()}.deployment(t, ns, "api", 1)
	_, ledger := app{annotations: reloadRestart()}.deployment(t, ns, "ledger", 2)
	d := newLocalDialer()
	var down *agentProc
	for i, pod := range append(append(slices.Clone(worker), api...), ledger[0]) {
		a := envAgent(t)
		d.add(pod, a.addr)
		if i == 1 {
			down = a
		}
	}
	down.stop() // worker-7f9c4-1: its port is closed
	// ledger-7f9c4-1 has no agent at all: the port-forward itself fails.
	now, at := tickingClock()

	r := run(t, d, now, "refresh", "-n", ns)
	if !errors.Is(r.err, ctl.ErrFailed) {
		t.Fatalf("want ErrFailed, got:\n%s", r)
	}
	for _, want := range []string{
		"2 of 6 pods failed",
		ns + "/ledger-7f9c4-1: port-forward to pod " + ns + "/ledger-7f9c4-1: no agent process for this pod",
		ns + "/worker-7f9c4-1: refresh: agent unreachable",
	} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("error does not contain %q:\n%s", want, r)
		}
	}
	// The others were still refreshed.
	if d := cmp.Diff(refreshPosts(worker[0], worker[1], worker[2], api[0], ledger[0]), sorted(d.sent("POST"))); d != "" {
		t.Errorf("refresh requests (-want +got):\n%s", d)
	}
	if d := cmp.Diff(restartState{at(0), 2}, deploymentState(t, ns, "api")); d != "" {
		t.Errorf("api (-want +got):\n%s", d)
	}
	if d := cmp.Diff(restartState{"", 1}, deploymentState(t, ns, "ledger")); d != "" {
		t.Errorf("ledger, whose pod failed to refresh, must not be restarted (-want +got):\n%s", d)
	}
	if !strings.Contains(normalize(r.stdout)[len(normalize(r.stdout))-1], "deployment.apps/ledger in "+ns+" not restarted: refresh failed in pod ledger-7f9c4-1") {
		t.Errorf("the table does not say why ledger was not restarted:\n%s", r.stdout)
	}
	if !strings.HasSuffix(r.stderr, "6 pods: 4 ok, 2 failed; 2 workloads: 1 restarted, 1 not restarted\n") {
		t.Errorf("stderr does not end with the summary:\n%s", r.stderr)
	}
}

func TestRefreshConcurrencyLimit(t *testing.T) {
	needBed(t)
	ns := namespace(t, "busy")
	_, pods := app{annotations: annotated(nil)}.deployment(t, ns, "api", 6)
	shared := []string{envAgent(t).addr, envAgent(t).addr}
	for _, limit := range []int{1, 2, 4} {
		t.Run("concurrency "+strconv.Itoa(limit), func(t *testing.T) {
			d := newLocalDialer()
			for i, pod := range pods {
				d.add(pod, shared[i%2])
			}
			// Each dial waits until limit dials are open at once: the
			// peak is then exactly the limit, unless it is not honoured.
			d.holdFor, d.total = limit, len(pods)
			r := run(t, d, nil, "refresh", "-n", ns, "--concurrency", strconv.Itoa(limit))
			if r.err != nil {
				t.Fatalf("refresh failed:\n%s", r)
			}
			if d.peak != limit {
				t.Errorf("peak of simultaneous agent connections = %d, want %d", d.peak, limit)
			}
			if n := len(d.sent("POST")); n != len(pods) {
				t.Errorf("%d refresh requests, want %d", n, len(pods))
			}
		})
	}
}

func TestRefreshDryRunChangesNothing(t *testing.T) {
	needBed(t)
	ns := namespace(t, "trading")
	_, api := app{annotations: reloadRestart()}.deployment(t, ns, "api", 2)
	_, worker := app{annotations: annotated(nil)}.deployment(t, ns, "worker", 1)
	d := newLocalDialer()
	for _, pod := range append(api, worker...) {
		d.add(pod, envAgent(t).addr)
	}
	for _, flag := range []string{"--dry-run", "--dry-run=client"} {
		t.Run(flag, func(t *testing.T) {
			r := run(t, d, nil, "refresh", "-n", ns, flag)
			if r.err != nil {
				t.Fatalf("dry run failed:\n%s", r)
			}
			if len(d.requests) != 0 {
				t.Errorf("a dry run talked to agents: %q", d.requests)
			}
			for _, name := range []string{"api", "worker"} {
				if d := cmp.Diff(restartState{"", 1}, deploymentState(t, ns, name)); d != "" {
					t.Errorf("a dry run changed %s (-want +got):\n%s", name, d)
				}
			}
			want := []string{
				"NAMESPACE POD RESULT",
				ns + " api-7f9c4-0 dry-run: would refresh every secret",
				ns + " api-7f9c4-1 dry-run: would refresh every secret",
				ns + " worker-7f9c4-0 dry-run: would refresh every secret",
				"WORKLOAD RESULT PODS THAT CANNOT RELOAD",
				"deployment.apps/api in " + ns + " would be restarted api-7f9c4-0,api-7f9c4-1",
			}
			if d := cmp.Diff(want, normalize(r.stdout)); d != "" {
				t.Errorf("stdout (-want +got):\n%s", d)
			}
			if !strings.HasSuffix(r.stderr, "3 pods: 3 dry-run, 0 failed; 1 workload: 1 would be restarted (dry run: nothing changed)\n") {
				t.Errorf("stderr does not end with the summary:\n%s", r.stderr)
			}
		})
	}
	t.Run("--dry-run=server is refused", func(t *testing.T) {
		r := run(t, d, nil, "refresh", "-n", ns, "--dry-run=server")
		if !errors.Is(r.err, ctl.ErrUsage) {
			t.Fatalf("want ErrUsage, got:\n%s", r)
		}
	})
}
