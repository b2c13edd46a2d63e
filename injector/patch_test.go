package injector

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

// applyOps applies ops to the encoded pod raw, as the API server applies a
// webhook's patch, and decodes the result.
func applyOps(t testing.TB, raw []byte, ops []Op) *corev1.Pod {
	t.Helper()
	enc, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(enc)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("apply patch: %v\n%s", err, enc)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(out, &pod); err != nil {
		t.Fatalf("the patched object is not a pod: %v", err)
	}
	return &pod
}

// TestPatchGolden applies the patch of every golden input to the input as
// written (converted to JSON, so lists and maps the input does not have
// are absent) and compares the result with the golden pod, or the denial
// with the golden denial. Patching the golden pod gives no operations.
func TestPatchGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs in testdata/: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := yaml.YAMLToJSON(data)
			if err != nil {
				t.Fatal(err)
			}
			pod := readPod(t, in)
			before := marshalPod(t, pod)
			opts := caseOptions(t, name)
			ops, err := Patch(pod, opts)
			if after := marshalPod(t, pod); after != before {
				t.Errorf("Patch changed the pod (-before +after):\n%s", cmp.Diff(before, after))
			}
			if err != nil {
				want, rerr := os.ReadFile(filepath.Join("testdata", name+".err.golden"))
				if rerr != nil {
					t.Fatalf("denied (%v) without a golden denial: %v", err, rerr)
				}
				if diff := cmp.Diff(string(want), err.Error()+"\n"); diff != "" {
					t.Errorf("denial (-golden +Patch):\n%s", diff)
				}
				return
			}
			golden := filepath.Join("testdata", name+".golden.yaml")
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			got := marshalPod(t, applyOps(t, raw, ops))
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("patched input differs from %s (-golden +patched):\n%s", golden, diff)
			}
			if again, err := Patch(readPod(t, golden), opts); err != nil || len(again) != 0 {
				t.Errorf("patching the golden pod: %v, %v; want no operations", again, err)
			}
		})
	}
}

func TestPatchEscapesAnnotationKeys(t *testing.T) {
	for in, want := range map[string]string{
		"secrets.tradepulse.io/status": "secrets.tradepulse.io~1status",
		"a~b/c~/":                      "a~0b~1c~0~1",
		"plain":                        "plain",
	} {
		if got := escapePointer(in); got != want {
			t.Errorf("escapePointer(%q) = %q, want %q", in, got, want)
		}
	}
	pod := fuzzPod(validAnnotations())
	ops, err := Patch(pod, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := Op{Op: OpAdd, Path: "/metadata/annotations/secrets.tradepulse.io~1status", Value: StatusInjected}
	if diff := cmp.Diff(want, ops[0]); diff != "" {
		t.Errorf("first operation (-want +got):\n%s", diff)
	}
}

// TestPatchCreatesWhatThePodLacks: a pod without init containers, volumes
// or mounts gets them as whole lists; with them, items are added in place.
func TestPatchCreatesWhatThePodLacks(t *testing.T) {
	pod := fuzzPod(validAnnotations())
	pod.Spec.InitContainers = nil
	pod.Spec.Volumes = nil
	pod.Spec.Containers[0].VolumeMounts = nil
	ops, err := Patch(pod, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, o := range ops {
		paths = append(paths, o.Op+" "+o.Path)
	}
	want := []string{
		"add /metadata/annotations/secrets.tradepulse.io~1status",
		"add /spec/volumes",
		"add /spec/containers/0/volumeMounts",
		"add /spec/containers/1/volumeMounts",
		"add /spec/initContainers",
	}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
	checkPatchEqualsInject(t, pod, testOptions())
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkPatchEqualsInject: Patch and Inject agree on pod, and applying the
// patch to the encoded pod gives Inject's pod.
func checkPatchEqualsInject(t *testing.T, pod *corev1.Pod, opts Options) {
	t.Helper()
	raw := mustJSON(t, pod)
	injected := pod.DeepCopy()
	changed, ierr := Inject(injected, opts)
	ops, perr := Patch(pod, opts)
	if (ierr == nil) != (perr == nil) || (ierr != nil && ierr.Error() != perr.Error()) {
		t.Fatalf("Inject: %v; Patch: %v", ierr, perr)
	}
	if changed != (len(ops) > 0) {
		t.Fatalf("Inject reports changed=%v, Patch has %d operations: %v", changed, len(ops), ops)
	}
	got := applyOps(t, raw, ops)
	// The API server only has the pod as JSON, which carries no invalid
	// UTF-8: compare with Inject's pod as JSON carries it.
	injected = applyOps(t, mustJSON(t, injected), nil)
	if !equality.Semantic.DeepEqual(injected, got) {
		t.Fatalf("patched pod differs from the injected one (-injected +patched):\n%s", cmp.Diff(marshalPod(t, injected), marshalPod(t, got)))
	}
}

// FuzzPatch: for any annotations, on a fresh pod and on a pod injected
// before with other annotations (and maybe the other sidecar kind),
// applying the patch to the encoded pod gives the pod Inject makes.
func FuzzPatch(f *testing.F) {
	seeds := goldenSeeds(f)
	for i, s := range seeds {
		f.Add(s, seeds[(i+1)%len(seeds)], true, false, uint8(i))
	}
	f.Fuzz(func(t *testing.T, first, second string, native, switchNative bool, shape uint8) {
		opts := testOptions()
		opts.NativeSidecars = native
		pod := fuzzPod(decodeAnnotations(first))
		if shape&1 != 0 {
			pod.Spec.InitContainers = nil
		}
		if shape&2 != 0 {
			pod.Spec.Containers[0].VolumeMounts = nil
		}
		if shape&4 != 0 {
			pod.Spec.Volumes = pod.Spec.Volumes[1:]
		}
		checkPatchEqualsInject(t, pod, opts)
		if _, err := Inject(pod, opts); err != nil {
			return
		}
		ann := decodeAnnotations(second)
		if v, ok := pod.Annotations[AnnotationStatus]; ok {
			ann[AnnotationStatus] = v
		}
		pod.Annotations = ann
		if switchNative {
			opts.NativeSidecars = !native
		}
		checkPatchEqualsInject(t, pod, opts)
	})
}
