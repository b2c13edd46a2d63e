package injector

import (
	"maps"
	"path"
	"path/filepath"
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

// Fuzz inputs encode an annotation map as "key\x01value" entries joined by
// "\x00", keys without our prefix (decode adds it), so that mutations land
// on the parts that matter.
func encodeAnnotations(ann map[string]string) string {
	var entries []string
	for _, k := range slices.Sorted(maps.Keys(ann)) {
		if rest, ok := strings.CutPrefix(k, Prefix); ok {
			entries = append(entries, rest+"\x01"+ann[k])
		}
	}
	return strings.Join(entries, "\x00")
}

func decodeAnnotations(s string) map[string]string {
	ann := map[string]string{}
	for _, e := range strings.Split(s, "\x00") {
		k, v, _ := strings.Cut(e, "\x01")
		ann[Prefix+k] = v
	}
	return ann
}

// goldenSeeds are the annotations of every golden input, encoded.
func goldenSeeds(f *testing.F) []string {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil || len(inputs) == 0 {
		f.Fatalf("no golden inputs: %v", err)
	}
	var seeds []string
	for _, in := range inputs {
		seeds = append(seeds, encodeAnnotations(readPod(f, in).Annotations))
	}
	return seeds
}

// FuzzParseAnnotations: Parse never panics; a denial is made only of
// annotation errors; an accepted config validates, survives the agent's
// decoder unchanged, and every path it writes stays inside the mount.
func FuzzParseAnnotations(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		f.Add(s)
	}
	opts := testOptions()
	f.Fuzz(func(t *testing.T, encoded string) {
		spec, err := Parse(decodeAnnotations(encoded), opts)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "annotation "+Prefix) && !strings.HasPrefix(line, "annotation \""+Prefix) {
					t.Fatalf("denial line %q does not name an annotation", line)
				}
			}
			return
		}
		if spec == nil {
			return
		}
		c := spec.Config
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted annotations make an invalid config: %v", err)
		}
		enc, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := config.Parse([]byte(enc), nil)
		if err != nil {
			t.Fatalf("the agent refuses the config: %v", err)
		}
		if diff := cmp.Diff(c, back); diff != "" {
			t.Fatalf("config changed through the agent's decoder (-injector +agent):\n%s", diff)
		}
		if r := mountPathProblem(c.MountPath); r != "" {
			t.Fatalf("accepted mount path: %s", r)
		}
		for _, s := range c.Secrets {
			dir := path.Join(c.MountPath, s.Name)
			if !inside(dir, c.MountPath) {
				t.Fatalf("secret %q escapes mount %q", s.Name, c.MountPath)
			}
			if s.Format != config.FormatJSON {
				continue
			}
			for field, to := range s.Fields {
				if p := path.Join(dir, to); !inside(p, dir) {
					t.Fatalf("field %q of secret %q is written at %q, outside %q", field, s.Name, p, dir)
				}
			}
		}
	})
}

// inside reports whether p is strictly below dir.
func inside(p, dir string) bool {
	return strings.HasPrefix(p, dir+"/") && path.Clean(p) == p
}

// fuzzPod is a pod with the shapes Inject cares about: two app containers,
// an app init container, a volume, a uid.
func fuzzPod(ann map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Annotations: ann},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](10001)},
			InitContainers:  []corev1.Container{{Name: "migrate", Image: "m"}},
			Containers: []corev1.Container{
				{Name: "app", Image: "a", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}},
				{Name: "worker", Image: "w"},
			},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: EnvVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
}

// FuzzInject: injecting twice equals injecting once; a denied pod is left
// exactly as it was; an injected pod's agent containers carry a config the
// agent accepts.
func FuzzInject(f *testing.F) {
	for _, s := range goldenSeeds(f) {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, encoded string, native bool) {
		opts := testOptions()
		opts.NativeSidecars = native
		pod := fuzzPod(decodeAnnotations(encoded))
		before := pod.DeepCopy()
		changed, err := Inject(pod, opts)
		if err != nil || !changed {
			if !equality.Semantic.DeepEqual(before, pod) {
				t.Fatalf("err=%v changed=%v but the pod changed", err, changed)
			}
			return
		}
		once := pod.DeepCopy()
		changed, err = Inject(pod, opts)
		if err != nil || changed {
			t.Fatalf("second injection: changed=%v err=%v", changed, err)
		}
		if !equality.Semantic.DeepEqual(once, pod) {
			t.Fatalf("injecting twice differs from once (-once +twice):\n%s", cmp.Diff(marshalPod(t, once), marshalPod(t, pod)))
		}
		checkAgentConfigs(t, pod)
	})
}

// checkAgentConfigs asserts that every agent container carries the same
// config and that the agent's own decoder accepts it.
func checkAgentConfigs(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	var configs []string
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		if !ours(c.Name) {
			continue
		}
		for _, e := range c.Env {
			if e.Name == config.EnvVar {
				configs = append(configs, e.Value)
			}
		}
	}
	if len(configs) == 0 {
		t.Fatal("no agent container carries a config")
	}
	for _, enc := range configs {
		if enc != configs[0] {
			t.Fatal("agent containers carry different configs")
		}
	}
	if _, err := config.Parse([]byte(configs[0]), nil); err != nil {
		t.Fatalf("the agent refuses the injected config: %v", err)
	}
}
