package injector

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/agent/config"
)

func TestInjectLeavesPodsThatDidNotOptIn(t *testing.T) {
	for name, ann := range map[string]map[string]string{
		"no annotations":         nil,
		"other annotations only": {"prometheus.io/scrape": "true"},
		"our keys, no inject":    {AnnotationSecretPrefix + "x": "r", AnnotationMode: "bogus"},
		"inject false":           {AnnotationInject: "false", Prefix + "typo": "x"},
	} {
		t.Run(name, func(t *testing.T) {
			pod := fuzzPod(ann)
			before := pod.DeepCopy()
			changed, err := Inject(pod, testOptions())
			if err != nil || changed {
				t.Fatalf("Inject = %v, %v; want false, nil", changed, err)
			}
			if !equality.Semantic.DeepEqual(before, pod) {
				t.Errorf("pod changed:\n%s", cmp.Diff(marshalPod(t, before), marshalPod(t, pod)))
			}
		})
	}
}

func TestInjectNilPod(t *testing.T) {
	if _, err := Inject(nil, testOptions()); err == nil {
		t.Error("Inject(nil) succeeded")
	}
}

func TestInjectRefusesInvalidOptions(t *testing.T) {
	pod := fuzzPod(validAnnotations())
	before := pod.DeepCopy()
	_, err := Inject(pod, Options{AgentImage: "x"})
	if err == nil || !strings.HasPrefix(err.Error(), "injector options: ") {
		t.Fatalf("err = %v, want an options error", err)
	}
	if !equality.Semantic.DeepEqual(before, pod) {
		t.Error("pod changed")
	}
}

// TestDenialIsAnnotationErrors: the webhook (or a test) can walk a denial
// and find each key at fault.
func TestDenialIsAnnotationErrors(t *testing.T) {
	ann := validAnnotations()
	ann[AnnotationMode] = "bogus"
	ann[AnnotationContainers] = "nope"
	_, err := Inject(fuzzPod(ann), testOptions())
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("err = %#v, want joined errors", err)
	}
	var keys []string
	for _, e := range joined.Unwrap() {
		var ae *AnnotationError
		if !errors.As(e, &ae) {
			t.Fatalf("%v is not an *AnnotationError", e)
		}
		keys = append(keys, ae.Key)
	}
	if diff := cmp.Diff([]string{AnnotationContainers, AnnotationMode}, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
}

// TestInjectDoesNotShareOptions: per-pod resource overrides must not leak
// into the cluster's options (a shared map) or into the next pod.
func TestInjectDoesNotShareOptions(t *testing.T) {
	opts := testOptions()
	opts.Resources = DefaultResources()
	want := DefaultResources()
	ann := validAnnotations()
	ann[AnnotationAgentMemoryLimit] = "1Gi"
	if _, err := Inject(fuzzPod(ann), opts); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(want, opts.Resources) {
		t.Errorf("options resources changed: %v", opts.Resources)
	}
}

// TestInjectReplacesReservedNames: a volume or container a user named like
// ours is replaced by ours, in place, not duplicated.
func TestInjectReplacesReservedNames(t *testing.T) {
	pod := fuzzPod(validAnnotations())
	pod.Spec.Volumes = append([]corev1.Volume{{Name: VolumeName}}, pod.Spec.Volumes...)
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: SidecarName, Image: "old"})
	if _, err := Inject(pod, testOptions()); err != nil {
		t.Fatal(err)
	}
	if v := pod.Spec.Volumes[0]; v.Name != VolumeName || v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("volume 0 = %+v, want our in-memory volume", v)
	}
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	// Native sidecars: the stale classic one is removed from containers.
	if diff := cmp.Diff([]string{"app", "worker"}, names); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
}

// TestNoSecretInDenials feeds a sentinel through every place a user might
// paste a secret value (a reference, a template's text) down the error
// paths, and asserts that no denial shows it.
func TestNoSecretInDenials(t *testing.T) {
	const sentinel = "SENTINEL-d3adb33f-value"
	cases := map[string]map[string]string{
		"ref with a newline":   {AnnotationSecretPrefix + "a": sentinel + "\n"},
		"ref too long":         {AnnotationSecretPrefix + "a": strings.Repeat(sentinel, 100)},
		"ref with spaces":      {AnnotationSecretPrefix + "a": " " + sentinel},
		"ref, invalid name":    {AnnotationSecretPrefix + "A": sentinel},
		"ref, orphan format":   {AnnotationSecretPrefix + "a": sentinel, AnnotationFormatPrefix + "b": "json"},
		"broken template":      {AnnotationSecretPrefix + "a": "r", AnnotationFormatPrefix + "a": "template", AnnotationTemplatePrefix + "a": "user=" + sentinel + "\n{{ .x | nope }}"},
		"template wrong place": {AnnotationSecretPrefix + "a": "r", AnnotationTemplatePrefix + "a": sentinel},
		"template literal":     {AnnotationSecretPrefix + "a": "r", AnnotationFormatPrefix + "a": "template", AnnotationTemplatePrefix + "a": `{{ "x" }}{{ end "` + sentinel + `" }}`},
		"template, bad call":   {AnnotationSecretPrefix + "a": "r", AnnotationFormatPrefix + "a": "template", AnnotationTemplatePrefix + "a": sentinel + `{{ template "x" }}`},
		"ref in a bad pod":     {AnnotationSecretPrefix + "a": sentinel, AnnotationContainers: "missing"},
	}
	for name, set := range cases {
		t.Run(name, func(t *testing.T) {
			ann := map[string]string{AnnotationInject: "true"}
			for k, v := range set {
				ann[k] = v
			}
			_, err := Inject(fuzzPod(ann), testOptions())
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), sentinel) || strings.Contains(err.Error(), "SENTINEL") {
				t.Errorf("denial shows the sentinel: %v", err)
			}
		})
	}
}

// TestInjectKeepsOtherMetadata: only our status annotation is added.
func TestInjectKeepsOtherMetadata(t *testing.T) {
	pod := fuzzPod(validAnnotations())
	pod.Labels = map[string]string{"app": "x"}
	pod.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "x-1"}}
	before := pod.DeepCopy()
	if _, err := Inject(pod, testOptions()); err != nil {
		t.Fatal(err)
	}
	before.Annotations[AnnotationStatus] = StatusInjected
	if diff := cmp.Diff(before.ObjectMeta, pod.ObjectMeta); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}

// TestAgentContainersRunTheImageBinary: the agent containers name the
// image's binary themselves instead of relying on its ENTRYPOINT (issue
// #12), so an allowed agent-image with another entrypoint still runs the
// agent.
func TestAgentContainersRunTheImageBinary(t *testing.T) {
	for _, native := range []bool{true, false} {
		opts := testOptions()
		opts.NativeSidecars = native
		pod := fuzzPod(validAnnotations())
		if _, err := Inject(pod, opts); err != nil {
			t.Fatal(err)
		}
		var n int
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			if !ours(c.Name) {
				continue
			}
			n++
			if diff := cmp.Diff([]string{AgentBinary}, c.Command); diff != "" {
				t.Errorf("native %v, %s: command (-want +got):\n%s", native, c.Name, diff)
			}
			if len(c.Args) == 0 || c.Args[0] != "agent" {
				t.Errorf("native %v, %s: args = %q, want the agent subcommand first", native, c.Name, c.Args)
			}
			if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
				if diff := cmp.Diff([]string{AgentBinary, "wait"}, c.Lifecycle.PostStart.Exec.Command); diff != "" {
					t.Errorf("native %v, %s: postStart hook (-want +got):\n%s", native, c.Name, diff)
				}
			}
		}
		// init+sidecar: a native sidecar fills the volume itself; a
		// classic one needs the init container.
		if want := map[bool]int{true: 1, false: 2}[native]; n != want {
			t.Fatalf("native %v: found %d agent containers, want %d", native, n, want)
		}
	}
	if AgentBinary != "/usr/local/bin/secret-injector-agent" {
		t.Errorf("AgentBinary = %q, want the image's /usr/local/bin/secret-injector-agent", AgentBinary)
	}
}

// TestAgentEnv: the cluster's agent environment reaches both agent
// containers, after the injector's own variables, and no app container.
func TestAgentEnv(t *testing.T) {
	opts := testOptions()
	opts.AgentEnv = []corev1.EnvVar{{Name: "HTTPS_PROXY", Value: "http://proxy:3128"}}
	pod := fuzzPod(validAnnotations())
	if _, err := Inject(pod, opts); err != nil {
		t.Fatal(err)
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		has := slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "HTTPS_PROXY" && e.Value == "http://proxy:3128" })
		if ours(c.Name) != has {
			t.Errorf("%s: HTTPS_PROXY present = %v", c.Name, has)
		}
	}
	opts.AgentEnv = []corev1.EnvVar{{Name: "VAULT_ADDR", Value: "http://elsewhere"}}
	if _, err := Inject(fuzzPod(validAnnotations()), opts); err == nil || !strings.Contains(err.Error(), "agent env VAULT_ADDR") {
		t.Errorf("overriding VAULT_ADDR: err = %v", err)
	}
}

// TestAgentIdentity: who the agent runs as and who owns the files. The
// agent runs under its own uid (Options.AgentUID) and shares the app's
// group, so the app cannot reach the agent's process (its Vault token, its
// memory) even in a shared process namespace, and reads the files (0440)
// through the group. Signal reload is the exception: kill(2) needs the app's
// uid, so the agent runs as the app (and makes itself non-dumpable).
func TestAgentIdentity(t *testing.T) {
	type want struct {
		uid, gid int64
		owner    *config.Owner
		mode     config.FileMode
		deny     string
	}
	app := func(uid, gid, fsGroup int64) func(p *corev1.Pod) {
		return func(p *corev1.Pod) {
			sc := &corev1.PodSecurityContext{}
			if uid > 0 {
				sc.RunAsUser = ptr.To(uid)
			}
			if gid > 0 {
				sc.RunAsGroup = ptr.To(gid)
			}
			if fsGroup > 0 {
				sc.FSGroup = ptr.To(fsGroup)
			}
			p.Spec.SecurityContext = sc
		}
	}
	tests := []struct {
		name string
		pod  func(p *corev1.Pod)
		ann  map[string]string
		opts func(o *Options)
		want want
	}{
		{"app uid and gid known", app(10001, 10002, 0), nil, nil,
			want{uid: 65532, gid: 10002, owner: &config.Owner{UID: 65532, GID: 10002}, mode: 0o440}},
		{"the cluster's agent uid", app(10001, 10002, 0), nil, func(o *Options) { o.AgentUID = 70000 },
			want{uid: 70000, gid: 10002, owner: &config.Owner{UID: 70000, GID: 10002}, mode: 0o440}},
		{"gid from fsGroup, uid only in the image", app(0, 0, 4000), nil, nil,
			want{uid: 65532, gid: 4000, owner: &config.Owner{UID: 65532, GID: 4000}, mode: 0o440}},
		{"owner annotation", app(0, 0, 0), map[string]string{AnnotationOwner: "10001:20002"}, nil,
			want{uid: 65532, gid: 20002, owner: &config.Owner{UID: 65532, GID: 20002}, mode: 0o440}},
		{"explicit group-readable mode", app(10001, 10002, 0), map[string]string{AnnotationFileModePrefix + "api-key": "0640"}, nil,
			want{uid: 65532, gid: 10002, owner: &config.Owner{UID: 65532, GID: 10002}, mode: 0o640}},
		{"signal reload runs as the app", app(10001, 10002, 0), map[string]string{AnnotationReload: "signal:SIGHUP:app"}, nil,
			want{uid: 10001, gid: 10002, owner: &config.Owner{UID: 10001, GID: 10002}, mode: 0o400}},
		{"signal reload keeps an owner-only mode", app(10001, 10002, 0),
			map[string]string{AnnotationReload: "signal:SIGHUP:app", AnnotationFileModePrefix + "api-key": "0400"}, nil,
			want{uid: 10001, gid: 10002, owner: &config.Owner{UID: 10001, GID: 10002}, mode: 0o400}},
		// The app's group is a guess (its image's passwd): only its uid
		// is sure to read the files.
		{"uid without a group", app(10001, 0, 0), nil, nil,
			want{uid: 10001, gid: 10001, owner: &config.Owner{UID: 10001, GID: 10001}, mode: 0o400}},
		{"nothing known", app(0, 0, 0), nil, nil,
			want{uid: 65532, gid: 65532, mode: 0o400}},
		{"owner-only mode the app could not read", app(10001, 10002, 0), map[string]string{AnnotationFileModePrefix + "api-key": "0400"}, nil,
			want{deny: `annotation secrets.tradepulse.io/file-mode-api-key: "0400" would keep the files from the app: they belong to the agent (uid 65532) and reach the app through its group 10002; use a mode the group can read, such as "0440"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ann := validAnnotations()
			maps.Copy(ann, tt.ann)
			pod := fuzzPod(ann)
			tt.pod(pod)
			opts := testOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			_, err := Inject(pod, opts)
			if tt.want.deny != "" {
				if err == nil || err.Error() != tt.want.deny {
					t.Fatalf("err = %v\nwant %s", err, tt.want.deny)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var agents int
			for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
				if !ours(c.Name) {
					continue
				}
				agents++
				sc := c.SecurityContext
				if *sc.RunAsUser != tt.want.uid || *sc.RunAsGroup != tt.want.gid {
					t.Errorf("%s runs as %d:%d, want %d:%d", c.Name, *sc.RunAsUser, *sc.RunAsGroup, tt.want.uid, tt.want.gid)
				}
				cfg := agentConfig(t, c)
				if diff := cmp.Diff(tt.want.owner, cfg.Owner); diff != "" {
					t.Errorf("%s: config owner (-want +got):\n%s", c.Name, diff)
				}
				for _, s := range cfg.Secrets {
					if diff := cmp.Diff(tt.want.owner, s.Owner); diff != "" {
						t.Errorf("%s: secret %s owner (-want +got):\n%s", c.Name, s.Name, diff)
					}
					if s.Mode != tt.want.mode {
						t.Errorf("%s: secret %s mode %s, want %s", c.Name, s.Name, s.Mode, tt.want.mode)
					}
				}
			}
			if agents != 1 { // init+sidecar as a native sidecar
				t.Errorf("%d agent containers, want 1", agents)
			}
		})
	}
}

// TestTokenVolume: the projected token is mounted into the agent only, and
// no one may write it. Its file mode cannot be 0400: unless every container
// of the pod runs as one uid (then the kubelet makes it 0600 and that uid's)
// or the pod has an fsGroup (then 0640, root:fsGroup), the kubelet writes it
// as root with defaultMode, and the agent runs as a non-root uid.
func TestTokenVolume(t *testing.T) {
	ann := validAnnotations()
	ann[AnnotationBackend] = config.BackendVault
	ann[AnnotationVaultRole] = "r"
	pod := fuzzPod(ann)
	if _, err := Inject(pod, testOptions()); err != nil {
		t.Fatal(err)
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name == TokenVolumeName {
			if got := *v.Projected.DefaultMode; got != 0o444 {
				t.Errorf("token defaultMode %#o, want 0444", got)
			}
		}
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		for _, m := range c.VolumeMounts {
			if m.Name == TokenVolumeName && (!ours(c.Name) || !m.ReadOnly) {
				t.Errorf("container %s mounts the token (readOnly %v)", c.Name, m.ReadOnly)
			}
		}
	}
}

func agentConfig(t *testing.T, c corev1.Container) *config.Config {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == config.EnvVar {
			cfg, err := config.Parse([]byte(e.Value), nil)
			if err != nil {
				t.Fatal(err)
			}
			return cfg
		}
	}
	t.Fatalf("%s has no %s", c.Name, config.EnvVar)
	return nil
}
