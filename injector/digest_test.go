package injector

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/tradepulse/secret-injector/internal/ekstest"
)

// admitWithDigest is a first admission through the Digester as the API
// server sees it: d.Patch's operations applied to the encoded pod, the
// result decoded and encoded again (as the API server hands the pod to the
// next webhook). ok=false: no operations (not opted in) or a denial.
func admitWithDigest(t testing.TB, d *Digester, pod *corev1.Pod) (out *corev1.Pod, ok bool) {
	t.Helper()
	ops, err := d.Patch(pod)
	if err != nil || len(ops) == 0 {
		return nil, false
	}
	enc := mustJSON(t, ops)
	p, err := jsonpatch.DecodePatch(enc)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := p.Apply(mustJSON(t, pod))
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, enc)
	}
	out = &corev1.Pod{}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return out, true
}

// fastPath is the webhook's digest check on pod as the API server encodes
// it: only its annotations and its spec's bytes.
func fastPath(t testing.TB, d *Digester, pod *corev1.Pod) bool {
	t.Helper()
	var o struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(mustJSON(t, pod), &o); err != nil {
		t.Fatal(err)
	}
	return d.Unchanged(o.Metadata.Annotations, o.Spec)
}

func mustDigester(t testing.TB, opts Options) *Digester {
	t.Helper()
	d, err := NewDigester(opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkFullPath: the Digester's full path on pod is Inject's answer (the
// digest annotation aside), and the fast path claims "unchanged" only when
// that answer is "no operations".
func checkFullPath(t *testing.T, d *Digester, pod *corev1.Pod) {
	t.Helper()
	fast := fastPath(t, d, pod)
	raw := mustJSON(t, pod)
	injected := pod.DeepCopy()
	changed, ierr := Inject(injected, d.opts)
	ops, perr := d.Patch(pod)
	if (ierr == nil) != (perr == nil) || (ierr != nil && ierr.Error() != perr.Error()) {
		t.Fatalf("Inject: %v; Digester.Patch: %v", ierr, perr)
	}
	if fast && (len(ops) > 0 || ierr != nil) {
		t.Fatalf("fast path says unchanged, full path answers %d operations, error %v: %v", len(ops), perr, ops)
	}
	if changed != (len(ops) > 0) {
		t.Fatalf("Inject reports changed=%v, Digester.Patch has %d operations: %v", changed, len(ops), ops)
	}
	got := applyOps(t, raw, ops)
	if len(ops) > 0 && got.Annotations[AnnotationDigest] == "" {
		t.Error("the operations set no digest")
	}
	delete(got.Annotations, AnnotationDigest)
	injected = applyOps(t, mustJSON(t, injected), nil)
	delete(injected.Annotations, AnnotationDigest)
	if !equality.Semantic.DeepEqual(injected, got) {
		t.Fatalf("patched pod differs from the injected one (-injected +patched):\n%s", cmp.Diff(marshalPod(t, injected), marshalPod(t, got)))
	}
}

// TestDigestGolden: every golden input the injector changes comes back, as
// the API server would send it after the patch, recognised by the fast
// path; and the full path agrees there is nothing to do.
func TestDigestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	recognised := 0
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			d := mustDigester(t, caseOptions(t, name))
			pod := readPod(t, in)
			if fastPath(t, d, pod) {
				t.Fatal("the input, never admitted by this digester, passes the fast path")
			}
			injected, ok := admitWithDigest(t, d, pod)
			if !ok {
				return
			}
			if !fastPath(t, d, injected) {
				t.Fatal("the pod as this digester injected it is not recognised")
			}
			recognised++
			checkFullPath(t, d, injected)
		})
	}
	if recognised < 20 {
		t.Errorf("only %d golden pods recognised", recognised)
	}
}

// TestDigestDefeatedByChange: a change to anything Inject reads or writes,
// or to the options, sends the pod down the full path, whose answer is
// Inject's; a change to what Inject neither reads nor writes does not.
func TestDigestDefeatedByChange(t *testing.T) {
	opts := testOptions()
	base := awsPod()
	base.Annotations[AnnotationReload] = "signal:SIGHUP:execution"
	base.Spec.Containers[0].Command = []string{"/execution"}
	base.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}
	base.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	d := mustDigester(t, opts)
	injected, ok := admitWithDigest(t, d, base)
	if !ok {
		t.Fatal("the base pod is not injected")
	}
	agent := func(p *corev1.Pod) *corev1.Container {
		for i := range p.Spec.InitContainers {
			if p.Spec.InitContainers[i].Name == SidecarName {
				return &p.Spec.InitContainers[i]
			}
		}
		t.Fatal("no sidecar")
		return nil
	}
	cases := []struct {
		name      string
		change    func(*corev1.Pod)
		opts      func(*Options)
		unchanged bool
	}{
		{name: "nothing", change: func(*corev1.Pod) {}, unchanged: true},
		{name: "annotation not ours", change: func(p *corev1.Pod) { p.Annotations["sidecar.istio.io/status"] = "{}" }, unchanged: true},
		{name: "label", change: func(p *corev1.Pod) { p.Labels = map[string]string{"app": "x"} }, unchanged: true},
		{name: "secret annotation", change: func(p *corev1.Pod) {
			p.Annotations[AnnotationSecretPrefix+"api-key"] = "tradepulse/exchanges/kraken/other"
		}},
		{name: "annotation added", change: func(p *corev1.Pod) { p.Annotations[AnnotationRefreshInterval] = "10m" }},
		{name: "annotation removed", change: func(p *corev1.Pod) { delete(p.Annotations, AnnotationReload) }},
		{name: "status removed", change: func(p *corev1.Pod) { delete(p.Annotations, AnnotationStatus) }},
		{name: "digest copied from another pod", change: func(p *corev1.Pod) {
			p.Annotations[AnnotationDigest] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		}},
		{name: "EKS skip-containers annotation", change: func(p *corev1.Pod) {
			p.Annotations[EKSSkipContainersAnnotation] = "execution"
		}},
		{name: "app image", change: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "ghcr.io/tradepulse/execution:3.2.0" }},
		{name: "app command", change: func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"/other"} }},
		{name: "app mount removed", change: func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts = p.Spec.Containers[0].VolumeMounts[:1] }},
		{name: "container added", change: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "istio/proxyv2"})
		}},
		{name: "AWS identity added after us", change: func(p *corev1.Pod) {
			ekstest.IRSA("arn:aws:iam::444455556666:role/execution", "eu-west-1").Mutate(p)
		}},
		{name: "agent image", change: func(p *corev1.Pod) { agent(p).Image = "docker.io/evil/agent:1" }},
		{name: "agent env", change: func(p *corev1.Pod) {
			agent(p).Env = append(agent(p).Env, corev1.EnvVar{Name: "DD_AGENT_HOST", Value: "x"})
		}},
		{name: "agent removed", change: func(p *corev1.Pod) { p.Spec.InitContainers = p.Spec.InitContainers[:len(p.Spec.InitContainers)-1] }},
		{name: "secrets volume removed", change: func(p *corev1.Pod) { p.Spec.Volumes = p.Spec.Volumes[:1] }},
		{name: "shareProcessNamespace", change: func(p *corev1.Pod) { p.Spec.ShareProcessNamespace = ptr.To(false) }},
		{name: "grace period", change: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](5) }},
		{name: "option: agent image", opts: func(o *Options) { o.AgentImage = "ghcr.io/tradepulse/secret-injector:v0.2.0" }},
		{name: "option: allow-list", opts: func(o *Options) { o.AllowedImages = []string{"registry.tradepulse.internal/platform/"} }},
		{name: "option: native sidecars", opts: func(o *Options) { o.NativeSidecars = false }},
		{name: "option: AWS role allow-list", opts: func(o *Options) { o.AWSAllowedRoleARNs = nil }},
		{name: "option: resources", opts: func(o *Options) { o.Resources = DefaultResources(); o.Resources.Limits = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := injected.DeepCopy()
			if tc.change != nil {
				tc.change(pod)
			}
			dd := d
			if tc.opts != nil {
				o := testOptions()
				tc.opts(&o)
				dd = mustDigester(t, o)
			}
			if got := fastPath(t, dd, pod); got != tc.unchanged {
				t.Fatalf("fast path = %v, want %v", got, tc.unchanged)
			}
			checkFullPath(t, dd, pod)
		})
	}
}

// TestDigestIsNotAChecksum: a digest holds for the digester's options in
// this process only; an equal digester (the same options) recognises the
// pod, which is how a webhook's handlers share it.
func TestDigestIsNotAChecksum(t *testing.T) {
	injected, ok := admitWithDigest(t, mustDigester(t, testOptions()), awsPod())
	if !ok {
		t.Fatal("not injected")
	}
	if !fastPath(t, mustDigester(t, testOptions()), injected) {
		t.Error("a digester with the same options does not recognise the pod")
	}
	saved := processKey
	t.Cleanup(func() { processKey = saved })
	processKey = []byte("another process's key, 32 bytes")
	if fastPath(t, mustDigester(t, testOptions()), injected) {
		t.Error("another process's key recognises the pod")
	}
}

// TestDigestCoversWhatInjectReads: what the digest leaves out (the
// annotations Covered leaves out, the rest of the metadata, the status)
// does not change Patch's answer. An injector that starts reading any of
// it fails here, and must bring it under the digest.
func TestDigestCoversWhatInjectReads(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	others := map[string]string{
		"kubectl.kubernetes.io/default-container":  "app",
		"eks.amazonaws.com/role-arn":               "arn:aws:iam::111122223333:role/tradepulse-x",
		"sidecar.istio.io/inject":                  "false",
		"secrets.tradepulse.io":                    "x", // the prefix without a name
		"example.com/secrets.tradepulse.io-inject": "false",
	}
	for k := range others {
		if Covered(k) {
			t.Fatalf("Covered(%q)", k)
		}
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		opts := caseOptions(t, name)
		pod := readPod(t, in)
		with := pod.DeepCopy()
		if with.Annotations == nil {
			with.Annotations = map[string]string{}
		}
		for k, v := range others {
			with.Annotations[k] = v
		}
		with.Name, with.GenerateName, with.Namespace, with.UID = "other-7f9c", "other-", "elsewhere", "4d2c8e8a"
		with.Labels = map[string]string{"app": "other", "secrets.tradepulse.io/inject": "false"}
		with.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "other", UID: "1"}}
		with.Status = corev1.PodStatus{Phase: corev1.PodRunning}
		want, werr := Patch(pod, opts)
		got, gerr := Patch(with, opts)
		if (werr == nil) != (gerr == nil) || string(mustJSON(t, want)) != string(mustJSON(t, got)) {
			t.Errorf("%s: other annotations change Patch's answer:\n%s %v\n%s %v", name, mustJSON(t, want), werr, mustJSON(t, got), gerr)
		}
	}
}

// FuzzDigest: for any annotations and any of a set of later changes to
// the injected pod (by another webhook, say), the fast path claims
// "unchanged" only where the full path answers no operations, and the
// full path's answer is Inject's.
func FuzzDigest(f *testing.F) {
	seeds := goldenSeeds(f)
	for i, s := range seeds {
		f.Add(s, seeds[(i+1)%len(seeds)], uint8(i), true)
	}
	f.Fuzz(func(t *testing.T, first, second string, change uint8, native bool) {
		opts := testOptions()
		opts.NativeSidecars = native
		d := mustDigester(t, opts)
		injected, ok := admitWithDigest(t, d, fuzzPod(decodeAnnotations(first)))
		if !ok {
			return
		}
		if !fastPath(t, d, injected) {
			t.Fatal("an unchanged injected pod is not recognised")
		}
		pod := injected.DeepCopy()
		switch change % 8 {
		case 1: // other annotations, keeping ours
			ann := decodeAnnotations(second)
			for k, v := range pod.Annotations {
				if k == AnnotationStatus || k == AnnotationDigest {
					ann[k] = v
				}
			}
			pod.Annotations = ann
		case 2:
			pod.Spec.Containers[0].Image += "-2"
		case 3:
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "added", Image: "x"})
		case 4:
			ekstest.PodIdentity("eu-west-1").Mutate(pod)
		case 5:
			pod.Spec.Volumes = pod.Spec.Volumes[1:]
		case 6:
			for i := range pod.Spec.InitContainers {
				pod.Spec.InitContainers[i].Args = append(pod.Spec.InitContainers[i].Args, "--x")
			}
		case 7:
			pod.Annotations[second] = first
		}
		checkFullPath(t, d, pod)
	})
}

// TestDigestFingerprintsEveryOption: the options' JSON, which keys the
// digest, leaves no field of Options out (an unexported field or a
// json:"-" tag would be a setting a restarted webhook could change while
// pods injected under the old one kept their digest).
func TestDigestFingerprintsEveryOption(t *testing.T) {
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() != reflect.TypeFor[Options]().PkgPath() {
			return
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" {
				t.Errorf("%s.%s is left out of the options' JSON", path, f.Name)
			}
			walk(f.Type, path+"."+f.Name)
		}
	}
	walk(reflect.TypeFor[Options](), "Options")
}
