package ctl_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/ctl"
	"github.com/tradepulse/secret-injector/injector"
)

// selected runs refresh --dry-run -o json, which selects like every
// command but touches nothing, and returns "namespace/pod outcome" lines.
func selected(t *testing.T, args ...string) ([]string, result) {
	t.Helper()
	r := run(t, newLocalDialer(), nil, "refresh", append([]string{"--dry-run", "-o", "json"}, args...)...)
	if r.err != nil {
		return nil, r
	}
	var rep ctl.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("refresh -o json is not a report: %v\n%s", err, r)
	}
	var got []string
	for _, p := range rep.Pods {
		got = append(got, p.Name()+" "+string(p.Outcome))
	}
	return got, r
}

func TestSelection(t *testing.T) {
	needBed(t)
	suite := "sel-" + randSuffix()
	front := app{labels: map[string]string{"suite": suite, "tier": "front"}, annotations: annotated(nil)}
	back := app{labels: map[string]string{"suite": suite, "tier": "back"}, annotations: annotated(nil), classic: true}
	plain := app{labels: map[string]string{"suite": suite, "tier": "front"}}
	pending := app{labels: map[string]string{"suite": suite, "tier": "back"}, annotations: annotated(nil), phase: corev1.PodPending}

	ns1, ns2 := namespace(t, "trading"), namespace(t, "research")
	front.deployment(t, ns1, "api", 2)
	back.deployment(t, ns1, "worker", 1)
	plain.bare(t, ns1, "plain")
	pending.bare(t, ns1, "starting")
	front.deployment(t, ns2, "api", 1)
	// The kubeconfig's second context defaults to namespace "elsewhere".
	_, err := bed.admin.CoreV1().Namespaces().Create(testContext(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	front.bare(t, "elsewhere", "lonely-"+suite)

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{name: "namespace: injected pods only, sorted; not running ones skipped", args: []string{"-n", ns1}, want: []string{
			ns1 + "/api-7f9c4-0 dry-run", ns1 + "/api-7f9c4-1 dry-run", ns1 + "/starting skipped", ns1 + "/worker-7f9c4-0 dry-run"}},
		{name: "long flag", args: []string{"--namespace=" + ns2}, want: []string{ns2 + "/api-7f9c4-0 dry-run"}},
		{name: "selector leaves out the pod that is not injected", args: []string{"-n", ns1, "-l", "tier=front"}, want: []string{
			ns1 + "/api-7f9c4-0 dry-run", ns1 + "/api-7f9c4-1 dry-run"}},
		{name: "all namespaces, sorted", args: []string{"-A", "-l", "suite=" + suite + ",app=api"}, want: []string{
			ns2 + "/api-7f9c4-0 dry-run", ns1 + "/api-7f9c4-0 dry-run", ns1 + "/api-7f9c4-1 dry-run"}},
		{name: "all namespaces, long flags", args: []string{"--all-namespaces", "--selector", "suite=" + suite + ",tier=back"}, want: []string{
			ns1 + "/starting skipped", ns1 + "/worker-7f9c4-0 dry-run"}},
		{name: "pod names", args: []string{"-n", ns1, "worker-7f9c4-0", "api-7f9c4-1"}, want: []string{
			ns1 + "/api-7f9c4-1 dry-run", ns1 + "/worker-7f9c4-0 dry-run"}},
		{name: "the context's namespace", args: []string{"--context", "elsewhere", "-l", "suite=" + suite}, want: []string{
			"elsewhere/lonely-" + suite + " dry-run"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, r := selected(t, tc.args...)
			if r.err != nil {
				t.Fatalf("unexpected failure:\n%s", r)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("selected pods (-want +got):\n%s", d)
			}
		})
	}

	for _, tc := range []struct {
		name    string
		args    []string
		noPods  bool
		wantErr string
	}{
		{name: "selector matches nothing", args: []string{"-n", ns1, "-l", "tier=nope"}, noPods: true,
			wantErr: `no pods in namespace ` + ns1 + ` matching "tier=nope"`},
		{name: "selector matches only pods that are not injected", args: []string{"-n", ns1, "-l", "app=plain"}, noPods: true,
			wantErr: `1 pod in namespace ` + ns1 + ` matching "app=plain", but none is injected (annotation ` + injector.AnnotationStatus + `: injected)`},
		{name: "the context's namespace is empty", args: []string{"-l", "suite=" + suite}, noPods: true,
			wantErr: `no pods in namespace default matching "suite=` + suite + `"`},
		{name: "named pod that is not injected", args: []string{"-n", ns1, "plain", "api-7f9c4-0"},
			wantErr: "pod " + ns1 + "/plain is not injected"},
		{name: "named pod that does not exist", args: []string{"-n", ns1, "ghost"},
			wantErr: "pod " + ns1 + "/ghost not found"},
		{name: "names with a selector", args: []string{"-n", ns1, "-l", "a=b", "ghost"},
			wantErr: "give pod names or --selector, not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := selected(t, tc.args...)
			if r.err == nil || !strings.Contains(r.err.Error(), tc.wantErr) {
				t.Fatalf("want an error containing %q, got:\n%s", tc.wantErr, r)
			}
			if got := errors.Is(r.err, ctl.ErrNoPods); got != tc.noPods {
				t.Errorf("errors.Is(err, ErrNoPods) = %v, want %v", got, tc.noPods)
			}
			if r.stdout != "" {
				t.Errorf("stdout should be empty, got:\n%s", r.stdout)
			}
		})
	}
}
