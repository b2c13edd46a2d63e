package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/clusterbed"
	"github.com/tradepulse/secret-injector/injector"
)

// backends are all four in CI, where a missing Vault bed is a failure.
func (s *suite) backends(t *testing.T) []string {
	names := []string{"env", "gcp", "aws"}
	if s.Bed.Vault != nil {
		return append(names, "vault")
	}
	t.Logf("skipping the vault cases: vault bed absent (%s unset)", strings.Join(s.Bed.VaultMissing, ", "))
	return names
}

func (s *suite) forEachBackend(t *testing.T, f func(t *testing.T, b bed.Backend, ns string)) {
	for _, name := range s.backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, s.Bed.Backends[name], s.newNamespace(t, "real-"+name))
		})
	}
}

func provision(t *testing.T, ctx context.Context, rb bed.Runbook, b bed.Backend) {
	t.Helper()
	if err := rb.Provision(ctx, b); err != nil {
		t.Fatal(err)
	}
	the.watchForLeaks(t, rb.Values()...)
}

// checkFiles compares the app's view of the volume with the runbook.
func checkFiles(t *testing.T, ctx context.Context, p corev1.Pod, rb bed.Runbook) {
	t.Helper()
	got, err := clusterbed.AppFiles(ctx, p)
	if err != nil {
		t.Fatalf("the app could not list its files: %v", err)
	}
	want := map[string]string{}
	for name, f := range rb.Files() {
		want[name] = clusterbed.SHA256(f.Data)
	}
	gotHashes := map[string]string{}
	for name, f := range got {
		if strings.HasPrefix(name, ".") {
			continue // the agent's own state, beside the secrets
		}
		gotHashes[name] = f.SHA256
		if f.Error != "" {
			t.Errorf("the app cannot read %s: %s", name, f.Error)
		}
		if !strings.HasSuffix(f.Mode, "0") {
			t.Errorf("file %s has mode %s: readable by any uid", name, f.Mode)
		}
		if f.UID != clusterbed.AppUID && f.GID != clusterbed.AppUID {
			t.Errorf("file %s is owned by %d:%d, neither the app's uid nor its group %d", name, f.UID, f.GID, clusterbed.AppUID)
		}
	}
	if diff := cmp.Diff(want, gotHashes); diff != "" {
		t.Errorf("files the app reads, by sha256 (-want +got):\n%s", diff)
	}
}

// Bootstrap: a Deployment's pod, run by the kubelet, finds every runbook
// file before its app starts; the agents run in order, as the spec says.
func TestBootstrap(t *testing.T) {
	s := need(t)
	s.forEachBackend(t, func(t *testing.T, b bed.Backend, ns string) {
		ctx := testContext(t, 4*time.Minute)
		rb := bed.NewRunbook("binance")
		provision(t, ctx, rb, b)
		pods := s.deploy(t, ctx, clusterbed.Workload{Name: "trading-engine", Namespace: ns, Backend: b, Annotations: rb.Annotations(b, "1m")}, 3*time.Minute)
		if len(pods) != 1 {
			t.Fatalf("want 1 running pod, got %d", len(pods))
		}
		p := pods[0]
		if !clusterbed.AgentsInjected(p) {
			t.Fatalf("pod %s was not injected", p.Name)
		}
		checkFiles(t, ctx, p, rb)
		// The native sidecar fills the volume before the app starts (its
		// postStart hook waits for that): no init container runs.
		if init := clusterbed.ContainerStatus(p, injector.InitContainerName); init != nil {
			t.Errorf("init container %+v: a native sidecar needs none", init)
		}
		side := clusterbed.ContainerStatus(p, injector.SidecarName)
		if side == nil || side.State.Running == nil || side.Started == nil || !*side.Started {
			t.Errorf("sidecar: %+v, want running and started", side)
		}
		app := clusterbed.ContainerStatus(p, clusterbed.AppName)
		if side != nil && side.State.Running != nil && app != nil && app.State.Running != nil &&
			app.State.Running.StartedAt.Before(&side.State.Running.StartedAt) {
			t.Errorf("the app started at %s, before the agent at %s", app.State.Running.StartedAt, side.State.Running.StartedAt)
		}
		var fs struct {
			Type      string `json:"type"`
			SizeBytes int64  `json:"sizeBytes"`
		}
		if err := clusterbed.AppGet(ctx, p, "/statfs?path="+clusterbed.SecretsPath, &fs); err != nil {
			t.Errorf("statfs of the secrets volume: %v", err)
		} else if fs.Type != "tmpfs" || fs.SizeBytes <= 0 || fs.SizeBytes > 64<<20 {
			t.Errorf("secrets volume: %+v, want a tmpfs bounded by the volume's sizeLimit", fs)
		}
		out, _ := s.Kubectl(ctx, "-n", ns, "get", "pods", "-o", "wide")
		t.Logf("kubectl get pods:\n%s", out)
		if !strings.Contains(out, "2/2") || !strings.Contains(out, "Running") {
			t.Errorf("kubectl get pods does not show the pod Running 2/2")
		}
	})
}

// Rotation: a new version reaches the app's files within the refresh
// interval, and the app is signalled — once, and never before its handler
// exists (it installs it 3 s after start, as a slow app does).
func TestRotation(t *testing.T) {
	s := need(t)
	s.forEachBackend(t, func(t *testing.T, b bed.Backend, ns string) {
		ctx := testContext(t, 4*time.Minute)
		rb := bed.NewRunbook("kraken")
		provision(t, ctx, rb, b)
		ann := rb.Annotations(b, "2s")
		ann["reload"] = "signal:SIGHUP:" + clusterbed.AppName
		pods := s.deploy(t, ctx, clusterbed.Workload{Name: "rotating", Namespace: ns, Backend: b, Annotations: ann, SIGHUPDelay: 3 * time.Second}, 3*time.Minute)
		p := pods[0]
		time.Sleep(5 * time.Second) // past the handler delay and the agent's debounce
		if n := sighups(t, ctx, p); n != 0 {
			t.Errorf("the app got %d SIGHUPs before anything changed", n)
		}
		rotated := "ak-rotated-" + bed.Token()
		s.watchForLeaks(t, rotated)
		if err := b.Put(ctx, rb.KeyPath(), []byte(rotated), false); err != nil {
			t.Fatal(err)
		}
		if err := poll(ctx, 30*time.Second, func() (bool, error) {
			files, err := clusterbed.AppFiles(ctx, p)
			return err == nil && files[rb.KeyFile()].SHA256 == clusterbed.SHA256(rotated), nil
		}); err != nil {
			t.Fatalf("the rotated api key never reached the app: %v", err)
		}
		if err := poll(ctx, 15*time.Second, func() (bool, error) { return sighups(t, ctx, p) >= 1, nil }); err != nil {
			t.Fatalf("the app was never signalled after the rotation")
		}
		time.Sleep(4 * time.Second)
		if n := sighups(t, ctx, p); n != 1 {
			t.Errorf("the app got %d SIGHUPs for one rotation, want 1", n)
		}
		cur, err := s.Client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st := clusterbed.ContainerStatus(*cur, clusterbed.AppName); st == nil || st.RestartCount != 0 {
			t.Errorf("the app restarted: %+v", st)
		}
	})
}

func sighups(t *testing.T, ctx context.Context, p corev1.Pod) int {
	t.Helper()
	var n struct {
		Count int `json:"sighups"`
	}
	if err := clusterbed.AppGet(ctx, p, "/sighups", &n); err != nil {
		t.Fatalf("sighups: %v", err)
	}
	return n.Count
}

// Emergency revocation of exchange keys: deleted in the backend, the file
// leaves the app's volume (fail closed) and comes back when provisioned.
func TestEmergencyRevocation(t *testing.T) {
	s := need(t)
	s.forEachBackend(t, func(t *testing.T, b bed.Backend, ns string) {
		ctx := testContext(t, 4*time.Minute)
		rb := bed.NewRunbook("bybit")
		provision(t, ctx, rb, b)
		pods := s.deploy(t, ctx, clusterbed.Workload{Name: "revoked", Namespace: ns, Backend: b, Annotations: rb.Annotations(b, "2s")}, 3*time.Minute)
		p := pods[0]
		if err := b.Delete(ctx, rb.KeyPath()); err != nil {
			t.Fatal(err)
		}
		if err := poll(ctx, 30*time.Second, func() (bool, error) {
			files, err := clusterbed.AppFiles(ctx, p)
			_, present := files[rb.KeyFile()]
			return err == nil && !present, nil
		}); err != nil {
			t.Fatalf("the revoked key stayed in the app's volume: %v", err)
		}
		// Over a real port-forward to the agent: the key is failing, and
		// the command says so with exit status 1.
		out, err := s.CLI(ctx, "status", "-n", ns, "-l", "app=revoked")
		if err == nil || !strings.Contains(out, rb.KeyFile()) || !strings.Contains(out, "1 failed") {
			t.Errorf("secret-injector status does not report %s failing (err %v):\n%s", rb.KeyFile(), err, out)
		}
		again := "ak-again-" + bed.Token()
		s.watchForLeaks(t, again)
		if err := b.Put(ctx, rb.KeyPath(), []byte(again), false); err != nil {
			t.Fatal(err)
		}
		if err := poll(ctx, 60*time.Second, func() (bool, error) {
			files, err := clusterbed.AppFiles(ctx, p)
			return err == nil && files[rb.KeyFile()].SHA256 == clusterbed.SHA256(again), nil
		}); err != nil {
			t.Fatalf("the re-provisioned key never came back: %v", err)
		}
	})
}

// Database credentials: the app logs into PostgreSQL with the lease's
// credentials; `secret-injector revoke` (over a real port-forward) revokes
// the lease, the old role is dropped and the app logs in as a new one.
func TestDatabaseRevoke(t *testing.T) {
	s := need(t)
	if s.Bed.Vault == nil {
		t.Skip("no Vault bed")
	}
	ctx := testContext(t, 4*time.Minute)
	ns := s.newNamespace(t, "real-db")
	v := s.Bed.Vault
	ann := map[string]string{"secret-db": v.DBRef(), "format-db": "json", "refresh-interval": "1m"}
	pods := s.deploy(t, ctx, clusterbed.Workload{Name: "ledger", Namespace: ns, Backend: s.Bed.Backends["vault"], Annotations: ann}, 3*time.Minute)
	p := pods[0]
	first := dbUser(t, ctx, p)
	out, err := s.CLI(ctx, "revoke", "-n", ns, "-l", "app=ledger")
	if err != nil {
		t.Fatalf("secret-injector revoke: %v\n%s", err, out)
	}
	t.Logf("secret-injector revoke:\n%s", out)
	var second string
	if err := poll(ctx, 30*time.Second, func() (bool, error) {
		second = dbUserOrEmpty(ctx, p)
		return second != "" && second != first, nil
	}); err != nil {
		t.Fatalf("the app still logs in as %s after the revoke", first)
	}
	if s.roleExists(t, ctx, first) {
		t.Errorf("PostgreSQL role %s still exists after its lease was revoked", first)
	}
}

func dbUserOrEmpty(ctx context.Context, p corev1.Pod) string {
	var r struct {
		User string `json:"current_user"`
	}
	if err := clusterbed.AppGet(ctx, p, "/db?dir=db", &r); err != nil {
		return ""
	}
	return r.User
}

func dbUser(t *testing.T, ctx context.Context, p corev1.Pod) string {
	t.Helper()
	var r struct {
		User string `json:"current_user"`
	}
	if err := clusterbed.AppGet(ctx, p, "/db?dir=db", &r); err != nil {
		t.Fatalf("the app could not log into PostgreSQL: %v", err)
	}
	return r.User
}

// roleExists asks PostgreSQL itself.
func (s *suite) roleExists(t *testing.T, ctx context.Context, role string) bool {
	t.Helper()
	ok, err := s.Bed.Vault.Env.RoleExists(ctx, role)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// Vault Kubernetes auth: the kubelet's projected token (audience vault)
// logs in as the pod's own service account; the app cannot read it; a pod
// of another service account never starts.
func TestVaultKubernetesAuth(t *testing.T) {
	s := need(t)
	if s.Bed.Vault == nil {
		t.Skip("no Vault bed")
	}
	ctx := testContext(t, 4*time.Minute)
	ns := s.newNamespace(t, "real-vault-auth")
	b := s.Bed.Backends["vault"]
	rb := bed.NewRunbook("okx")
	provision(t, ctx, rb, b)
	ann := rb.Annotations(b, "1m")
	ann["reload"] = "signal:SIGHUP:" + clusterbed.AppName // shares the PID namespace with the agent
	pods := s.deploy(t, ctx, clusterbed.Workload{Name: "allowed", Namespace: ns, Backend: b, Annotations: ann}, 3*time.Minute)
	checkFiles(t, ctx, pods[0], rb)
	var reads struct {
		Agents []struct {
			PID      int    `json:"pid"`
			Readable bool   `json:"readable"`
			Error    string `json:"error"`
		} `json:"agents"`
	}
	if err := clusterbed.AppGet(ctx, pods[0], "/read-agent-token", &reads); err != nil {
		t.Fatalf("read-agent-token: %v", err)
	}
	if len(reads.Agents) == 0 {
		t.Errorf("the app saw no agent process, though it shares the pod's PID namespace")
	}
	for _, r := range reads.Agents {
		if r.Readable {
			t.Errorf("the app read the agent's Vault token through /proc/%d/root", r.PID)
		} else {
			t.Logf("the app cannot read the agent's token through /proc/%d/root: %s", r.PID, r.Error)
		}
	}

	// The intruder gives up after 10 s, so that the kubelet's answer to
	// the failed postStart hook is seen within the test.
	intruder := rb.Annotations(b, "1m")
	intruder["init-timeout"] = "10s"
	d, err := s.Deployment(ctx, clusterbed.Workload{Name: "intruder", Namespace: ns, Backend: b, Annotations: intruder, ServiceAccount: clusterbed.IntruderServiceAccount})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := poll(ctx, time.Minute, func() (bool, error) {
		list, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=intruder"})
		if err != nil || len(list.Items) == 0 {
			return false, nil
		}
		pod = list.Items[0]
		// The kubelet shows the sidecar waiting (PodInitializing) while
		// its postStart hook runs.
		return clusterbed.ContainerStatus(pod, injector.SidecarName) != nil, nil
	}); err != nil {
		t.Fatalf("the intruder's agent never started: %v", err)
	}
	time.Sleep(15 * time.Second)
	cur, err := s.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if app := clusterbed.ContainerStatus(*cur, clusterbed.AppName); app == nil || app.State.Waiting == nil || cur.Status.Phase != corev1.PodPending {
		t.Errorf("a pod of service account intruder got past its agent's postStart hook: phase %s, app %+v", cur.Status.Phase, app)
	}

	// kubectl describe pod says why: the hook's failure is the sidecar's
	// last state (its termination message, naming each secret Vault
	// refused, never a value) beside a FailedPostStartHook event.
	var msg string
	if err := poll(ctx, 90*time.Second, func() (bool, error) {
		cur, err := s.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		st := clusterbed.ContainerStatus(*cur, injector.SidecarName)
		if st == nil || st.LastTerminationState.Terminated == nil {
			return false, nil
		}
		msg = st.LastTerminationState.Terminated.Message
		return true, nil
	}); err != nil {
		t.Fatalf("the intruder's sidecar was never restarted after its postStart hook gave up: %v", err)
	}
	t.Logf("the intruder's sidecar, last state: %q", msg)
	for _, want := range []string{"secrets not written within 10s", "access denied"} {
		if !strings.Contains(msg, want) {
			t.Errorf("termination message %q lacks %q", msg, want)
		}
	}
	// The kubelet's event says only "PostStartHook failed"; the why is
	// the last state above.
	events, err := s.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod.Name + ",reason=FailedPostStartHook"})
	if err != nil || len(events.Items) == 0 {
		t.Errorf("no FailedPostStartHook event for %s: %v", pod.Name, err)
	}
	for _, v := range rb.Values() {
		if strings.Contains(msg, v) {
			t.Errorf("the termination message holds a secret value")
		}
	}
}
