package ctl_test

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tradepulse/secret-injector/ctl"
)

// TestPortForwardThroughTheAPIServer drives the real transport as far as a
// cluster without a kubelet allows: the README-role user's port-forward
// request is authorised and reaches the API server's pods/portforward,
// which answers that the pod runs on no node. A user without the role is
// refused. Either way the error names the pod and nothing hangs.
func TestPortForwardThroughTheAPIServer(t *testing.T) {
	b := needBed(t)
	ns := namespace(t, "pf")
	pod := app{annotations: annotated(nil)}.bare(t, ns, "api")

	portForward := func(verbs ...string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: verbs}}
	}
	for _, tc := range []struct {
		name    string
		config  *rest.Config
		wantErr string
	}{
		{name: "README role", config: b.operator, wantErr: "does not have a host assigned"},
		{name: "no role", config: userWithRules(t, "stranger", nil), wantErr: "forbidden"},
		// The WebSocket GET is refused; the SPDY POST that follows, as
		// kubectl's does, needs only create.
		{name: "create alone", config: userWithRules(t, "pf-create", portForward("create")), wantErr: "does not have a host assigned"},
		{name: "get alone", config: userWithRules(t, "pf-get", portForward("get")), wantErr: "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := kubernetes.NewForConfig(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d := &ctl.PortForward{Config: tc.config, Client: client}
			_, closeFn, err := d.Dial(ctx, pod)
			if err == nil {
				closeFn()
				t.Fatal("port-forward to a pod on no node succeeded")
			}
			for _, want := range []string{"pod " + ns + "/api", tc.wantErr} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// userWithRules adds a user bound to a ClusterRole with rules (none: no
// binding at all).
func userWithRules(t *testing.T, name string, rules []rbacv1.PolicyRule) *rest.Config {
	t.Helper()
	cfg, err := bedUser(t, name)
	if err != nil {
		t.Fatal(err)
	}
	if rules == nil {
		return cfg
	}
	ctx := testContext(t)
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name + "-" + randSuffix()}, Rules: rules}
	if _, err := bed.admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = bed.admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
