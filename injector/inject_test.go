package injector

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	pod := fuzzPod(validAnnotations())
	if _, err := Inject(pod, testOptions()); err != nil {
		t.Fatal(err)
	}
	var n int
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if c.Name != InitContainerName && c.Name != SidecarName {
			continue
		}
		n++
		if diff := cmp.Diff([]string{AgentBinary}, c.Command); diff != "" {
			t.Errorf("%s: command (-want +got):\n%s", c.Name, diff)
		}
		if len(c.Args) == 0 || c.Args[0] != "agent" {
			t.Errorf("%s: args = %q, want the agent subcommand first", c.Name, c.Args)
		}
	}
	if n != 2 {
		t.Fatalf("found %d agent containers, want 2", n)
	}
	if AgentBinary != "/usr/local/bin/secret-injector" {
		t.Errorf("AgentBinary = %q, want the image's /usr/local/bin/secret-injector", AgentBinary)
	}
}
