package ekstest

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMutate: the stand-in behaves as the EKS webhook is documented to:
// every container and init container but the skipped ones, set variables
// left alone, a second pass changes nothing.
func TestMutate(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{SkipContainers: "debug"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "migrate"}},
			Containers: []corev1.Container{
				{Name: "app", Env: []corev1.EnvVar{{Name: "AWS_REGION", Value: "us-east-2"}}},
				{Name: "debug"},
			},
		},
	}
	id := IRSA("arn:aws:iam::444455556666:role/app", "eu-west-1")
	if !id.Mutate(pod) {
		t.Fatal("first pass changed nothing")
	}
	if id.Mutate(pod) {
		t.Error("second pass changed the pod")
	}
	count := func(c corev1.Container, name string) (n int) {
		for _, e := range c.Env {
			if e.Name == name {
				n++
			}
		}
		return n
	}
	for _, c := range []corev1.Container{pod.Spec.InitContainers[0], pod.Spec.Containers[0]} {
		if count(c, "AWS_ROLE_ARN") != 1 || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != IRSAVolume {
			t.Errorf("%s not mutated once: %+v", c.Name, c)
		}
	}
	if app := pod.Spec.Containers[0]; count(app, "AWS_DEFAULT_REGION") != 0 || count(app, "AWS_REGION") != 1 {
		t.Errorf("a container with a region got another: %+v", app.Env)
	}
	if debug := pod.Spec.Containers[1]; len(debug.Env) != 0 || len(debug.VolumeMounts) != 0 {
		t.Errorf("skipped container mutated: %+v", debug)
	}
	if len(pod.Spec.Volumes) != 1 || pod.Spec.Volumes[0].Name != IRSAVolume {
		t.Errorf("volumes %+v, want the token volume once", pod.Spec.Volumes)
	}
}
