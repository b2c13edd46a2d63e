package cluster

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/clusterbed"
	"github.com/tradepulse/secret-injector/injector"
)

// appEnv is what the test app reports of its environment: its pid and the
// sha256 of the variables asked for.
type appEnv struct {
	PID    int               `json:"pid"`
	SHA256 map[string]string `json:"sha256"`
}

func getAppEnv(ctx context.Context, p corev1.Pod, names ...string) (appEnv, error) {
	var e appEnv
	err := clusterbed.AppGet(ctx, p, "/env?sha256="+strings.Join(names, ","), &e)
	return e, err
}

// Env mode on the real kubelet: the init container copies the wrapper
// into the bin volume, the app (its command stated) runs under it as the
// app's uid with the runbook's secrets in its environment — a raw secret
// as its derived variable, an env secret's keys — and a rotation reaches
// it by a restart under the wrapper (restart mode: a new process, the
// container not restarted) or as a signal (signal mode: the same process,
// its environment unchanged). No value is in the pod spec, and none in a
// log, an Event or a metric (the leak check at the namespace's end).
func TestEnvMode(t *testing.T) {
	s := need(t)
	b := s.Bed.Backends["gcp"]
	for _, reload := range []string{"restart", "signal:SIGHUP"} {
		// One after the other: the runbook's shared secrets (mlflow,
		// postgres-tls) live at the same backend paths for both.
		t.Run(strings.ReplaceAll(reload, ":", "-"), func(t *testing.T) {
			ns := s.newNamespace(t, "envmode")
			ctx := testContext(t, 4*time.Minute)
			rb := bed.NewRunbook("envmode")
			provision(t, ctx, rb, b)
			ann := rb.Annotations(b, "2s")
			ann["env-mode"] = "true"
			ann["env-reload"] = reload
			keyVar := strings.ToUpper(strings.ReplaceAll(rb.KeyFile(), "-", "_")) // ENVMODE_API_KEY
			pods := s.deploy(t, ctx, clusterbed.Workload{Name: "env-engine", Namespace: ns, Backend: b, Annotations: ann,
				Command: []string{"/testapp"}}, 3*time.Minute)
			p := pods[0]

			app := clusterbed.ContainerStatus(p, clusterbed.AppName)
			if app == nil || app.State.Running == nil {
				t.Fatalf("app container: %+v, want running", app)
			}
			before, err := getAppEnv(ctx, p, keyVar, "MLFLOW_TRACKING_PASSWORD")
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{keyVar: clusterbed.SHA256(rb.APIKey), "MLFLOW_TRACKING_PASSWORD": clusterbed.SHA256(rb.MLflowPass)}
			for name, sum := range want {
				if before.SHA256[name] != sum {
					t.Errorf("the app's %s has sha256 %q, want the secret's %s", name, before.SHA256[name], sum)
				}
			}
			if before.PID == 1 {
				t.Errorf("the app is PID 1: the wrapper should be, with the app its child")
			}
			checkFiles(t, ctx, p, rb) // the files are there too, as in every mode

			rotated := "ak-env-" + bed.Token()
			s.watchForLeaks(t, rotated)
			if err := b.Put(ctx, rb.KeyPath(), []byte(rotated), false); err != nil {
				t.Fatal(err)
			}
			if reload == "restart" {
				var after appEnv
				if err := poll(ctx, 60*time.Second, func() (bool, error) {
					after, err = getAppEnv(ctx, p, keyVar)
					return err == nil && after.SHA256[keyVar] == clusterbed.SHA256(rotated), nil
				}); err != nil {
					t.Fatalf("the rotated key never reached the app's environment: %v", err)
				}
				if after.PID == before.PID {
					t.Errorf("the app has the new value under its old pid %d", after.PID)
				}
			} else {
				if err := poll(ctx, 60*time.Second, func() (bool, error) { return sighups(t, ctx, p) >= 1, nil }); err != nil {
					t.Fatalf("the app was never signalled after the rotation")
				}
				after, err := getAppEnv(ctx, p, keyVar)
				if err != nil {
					t.Fatal(err)
				}
				if after.PID != before.PID || after.SHA256[keyVar] != clusterbed.SHA256(rb.APIKey) {
					t.Errorf("signal mode: pid %d → %d, key %s; want the same process with its first environment", before.PID, after.PID, after.SHA256[keyVar])
				}
			}

			cur, err := s.Client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st := clusterbed.ContainerStatus(*cur, clusterbed.AppName); st == nil || st.RestartCount != 0 {
				t.Errorf("the app container restarted (the wrapper restarts the app inside it): %+v", st)
			}
			spec, err := json.Marshal(cur)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range append(rb.Values(), rotated) {
				if strings.Contains(string(spec), v) {
					t.Errorf("the pod as the API server has it holds a secret value")
				}
			}
			if !strings.Contains(string(spec), injector.BinPath) {
				t.Errorf("the pod's command does not run the wrapper %s", injector.BinPath)
			}
		})
	}
}

// Env mode without a stated command: denied at admission, naming the
// container and what to add.
func TestEnvModeDeniesAContainerWithoutCommand(t *testing.T) {
	s := need(t)
	b := s.Bed.Backends["gcp"]
	ns := s.newNamespace(t, "envmode-deny")
	ctx := testContext(t, time.Minute)
	rb := bed.NewRunbook("envdeny")
	ann := rb.Annotations(b, "1m")
	ann["env-mode"] = "true"
	d, err := s.Deployment(ctx, clusterbed.Workload{Name: "no-command", Namespace: ns, Backend: b, Annotations: ann})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: d.Spec.Template.ObjectMeta, Spec: d.Spec.Template.Spec}
	pod.Name = "no-command"
	_, err = s.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), `container "`+clusterbed.AppName+`" states no command`) || !strings.Contains(err.Error(), injector.AnnotationEnvMode) {
		t.Fatalf("create: %v, want a denial naming %s and container %q", err, injector.AnnotationEnvMode, clusterbed.AppName)
	}
}
