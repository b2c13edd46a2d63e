package injector

import (
	"encoding/json"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/envexec"
)

// The command env mode writes is one the wrapper accepts, and it asks for
// what the annotations say: each raw secret's variable, each env secret's
// file, the reload, the pod's grace, and the app's own command after
// "--". The app's args are left alone.
func TestEnvModeCommandIsTheWrappers(t *testing.T) {
	pod := readPod(t, filepath.Join("testdata", "env-mode.in.yaml"))
	if _, err := Inject(pod, testOptions()); err != nil {
		t.Fatal(err)
	}
	engine := pod.Spec.Containers[0]
	if engine.Command[0] != BinPath || engine.Command[1] != "exec" {
		t.Fatalf("engine's command %q is not the wrapper", engine.Command)
	}
	o, err := envexec.Parse(engine.Command[2:], io.Discard)
	if err != nil {
		t.Fatalf("the wrapper refuses the injected command: %v", err)
	}
	want := []envexec.Var{{Name: "BINANCE_API_KEY", File: "binance-api-key"}, {Name: "BINANCE_SECRET", File: "binance-api-secret"}}
	if diff := cmp.Diff(want, o.Vars); diff != "" {
		t.Errorf("vars (-want +got):\n%s", diff)
	}
	if !slices.Equal(o.EnvFiles, []string{"mlflow.env"}) || o.Dir != "/secrets" || o.Reload != envexec.ReloadRestart || o.Grace.Seconds() != 45 {
		t.Errorf("parsed %+v", o)
	}
	if !slices.Equal(o.Command, []string{"/app/engine"}) || !slices.Equal(engine.Args, []string{"--venue", "binance"}) {
		t.Errorf("app command %q args %q, want [/app/engine] [--venue binance]", o.Command, engine.Args)
	}
	if len(engine.Env) != 0 {
		t.Errorf("the wrapped container got env %v; values must stay in the files", engine.Env)
	}

	pod = readPod(t, filepath.Join("testdata", "env-mode-containers.in.yaml"))
	if _, err := Inject(pod, testOptions()); err != nil {
		t.Fatal(err)
	}
	o, err = envexec.Parse(pod.Spec.Containers[0].Command[2:], io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Reload != envexec.ReloadSignal || o.Signal != "SIGHUP" || o.Grace != envexec.DefaultGrace {
		t.Errorf("reload %s %s grace %v, want signal SIGHUP and Kubernetes' default grace", o.Reload, o.Signal, o.Grace)
	}
	if pod.Spec.Containers[1].Command != nil {
		t.Errorf("the unlisted container was wrapped: %q", pod.Spec.Containers[1].Command)
	}
}

// The injected pod names secrets and variables, never values: the webhook
// never has one, and env mode adds no env entry (an env value would be in
// the pod spec). The only values in the pod's env lists are the agent's
// own config and settings.
func TestEnvModePodHoldsNoValues(t *testing.T) {
	pod := readPod(t, filepath.Join("testdata", "env-mode.in.yaml"))
	before := map[string]int{}
	for _, c := range pod.Spec.Containers {
		before[c.Name] = len(c.Env)
	}
	if _, err := Inject(pod, testOptions()); err != nil {
		t.Fatal(err)
	}
	for _, c := range pod.Spec.Containers {
		if ours(c.Name) {
			continue
		}
		if len(c.Env) != before[c.Name] || len(c.EnvFrom) != 0 {
			t.Errorf("container %s: env %v, envFrom %v added", c.Name, c.Env, c.EnvFrom)
		}
		for _, a := range c.Command {
			if name, file, ok := strings.Cut(a, "="); ok && !strings.HasPrefix(a, "-") && pod.Annotations[AnnotationSecretPrefix+file] == "" {
				t.Errorf("container %s: command argument %s=%s is not a variable and a secret's name", c.Name, name, file)
			}
		}
	}
	data, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"valueFrom"`, `"secretKeyRef"`} {
		if strings.Contains(string(data), s) {
			t.Errorf("the injected pod holds %s", s)
		}
	}
}
