package injector

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/internal/ekstest"
)

// awsPod is an opted-in aws pod whose app has environment of its own,
// which must never reach the agent.
func awsPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "execution", Namespace: "trading", Annotations: map[string]string{
			AnnotationInject:                   "true",
			AnnotationBackend:                  "aws",
			AnnotationSecretPrefix + "api-key": "tradepulse/exchanges/kraken/api-key",
		}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "migrate", Image: "ghcr.io/tradepulse/migrate:1"}},
			Containers: []corev1.Container{{Name: "execution", Image: "ghcr.io/tradepulse/execution:3.1.0",
				Env: []corev1.EnvVar{{Name: "DATABASE_PASSWORD", Value: "app-only"}}}},
		},
	}
}

// agents returns the pod's agent containers by name.
func agents(pod *corev1.Pod) map[string]corev1.Container {
	out := map[string]corev1.Container{}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if ours(c.Name) {
				out[c.Name] = c
			}
		}
	}
	return out
}

// identityOf is what of c a user checks: the AWS variables and the token
// mounts, in order.
func identityOf(c corev1.Container) []string {
	var out []string
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "AWS_") || e.Name == "DATABASE_PASSWORD" {
			out = append(out, e.Name+"="+e.Value)
		}
	}
	for _, m := range c.VolumeMounts {
		if m.Name != VolumeName {
			out = append(out, fmt.Sprintf("mount %s at %s ro=%v", m.Name, m.MountPath, m.ReadOnly))
		}
	}
	return out
}

// TestAWSIdentityEitherOrder runs the EKS webhook's mutation before ours,
// and after ours followed by our reinvocation, and checks that the agent
// containers carry the identity either way, identically, and that the
// reinvocation is a no-op.
func TestAWSIdentityEitherOrder(t *testing.T) {
	const role = "arn:aws:iam::444455556666:role/execution"
	irsa := []string{
		"AWS_STS_REGIONAL_ENDPOINTS=regional", "AWS_DEFAULT_REGION=eu-west-1", "AWS_REGION=eu-west-1",
		"AWS_ROLE_ARN=" + role, "AWS_WEB_IDENTITY_TOKEN_FILE=" + ekstest.IRSATokenFile,
		"mount aws-iam-token at " + ekstest.IRSAMountPath + " ro=true",
	}
	podIdentity := []string{
		"AWS_DEFAULT_REGION=eu-west-1", "AWS_REGION=eu-west-1",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + ekstest.PodIdentityURI,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + ekstest.PodIdentityTokenFile,
		"mount eks-pod-identity-token at " + ekstest.PodIdentityMountPath + " ro=true",
	}
	for _, tt := range []struct {
		name string
		id   ekstest.Identity
		want []string
	}{
		{"irsa", ekstest.IRSA(role, "eu-west-1"), irsa},
		{"pod identity", ekstest.PodIdentity("eu-west-1"), podIdentity},
	} {
		for _, native := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s native=%v", tt.name, native), func(t *testing.T) {
				opts := testOptions()
				opts.NativeSidecars = native

				theirsFirst := awsPod()
				tt.id.Mutate(theirsFirst)
				if _, err := Inject(theirsFirst, opts); err != nil {
					t.Fatal(err)
				}

				oursFirst := awsPod()
				if _, err := Inject(oursFirst, opts); err != nil {
					t.Fatal(err)
				}
				if !tt.id.Mutate(oursFirst) {
					t.Fatal("the EKS webhook found nothing to do after ours")
				}
				reinvoked := oursFirst.DeepCopy()
				changed, err := Inject(reinvoked, opts)
				if err != nil {
					t.Fatal(err)
				}
				if changed {
					t.Errorf("reinvocation after the EKS webhook changed the pod:\n%s", cmp.Diff(marshalPod(t, oursFirst), marshalPod(t, reinvoked)))
				}

				for order, pod := range map[string]*corev1.Pod{"theirs first": theirsFirst, "ours first": reinvoked} {
					got := agents(pod)
					// A native sidecar needs no init container.
					if want := map[bool]int{true: 1, false: 2}[native]; len(got) != want {
						t.Fatalf("%s: %d agent containers, want %d", order, len(got), want)
					}
					for name, c := range got {
						if diff := cmp.Diff(tt.want, identityOf(c)); diff != "" {
							t.Errorf("%s: %s identity (-want +got):\n%s", order, name, diff)
						}
					}
				}
				if diff := cmp.Diff(agents(theirsFirst), agents(reinvoked)); diff != "" {
					t.Errorf("agent containers depend on the webhooks' order (-theirs first +ours first):\n%s", diff)
				}
			})
		}
	}
}

// TestAWSIdentityReinjectionStable: injecting an injected pod with the
// identity once more changes nothing (the webhook can be called any
// number of times).
func TestAWSIdentityReinjectionStable(t *testing.T) {
	pod := awsPod()
	ekstest.IRSA("arn:aws:iam::444455556666:role/execution", "eu-west-1").Mutate(pod)
	for i := range 3 {
		changed, err := Inject(pod, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		if changed != (i == 0) {
			t.Errorf("pass %d: changed = %v", i+1, changed)
		}
	}
	for name, c := range agents(pod) {
		n := 0
		for _, e := range c.Env {
			if e.Name == "AWS_ROLE_ARN" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s has AWS_ROLE_ARN %d times", name, n)
		}
	}
}

func TestAWSIdentityNotCopied(t *testing.T) {
	const role = "arn:aws:iam::444455556666:role/execution"
	tests := []struct {
		name  string
		setup func(*corev1.Pod)
		want  map[string][]string // agent container → identity
	}{
		{"no identity on the pod", func(*corev1.Pod) {}, map[string][]string{InitContainerName: nil, SidecarName: nil}},
		{"a region alone is no identity", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "AWS_REGION", Value: "eu-west-1"})
		}, map[string][]string{InitContainerName: nil, SidecarName: nil}},
		{"skip-containers names the sidecar", func(p *corev1.Pod) {
			p.Annotations[ekstest.SkipContainers] = "migrate, " + SidecarName
			ekstest.IRSA(role, "").Mutate(p)
		}, map[string][]string{
			InitContainerName: {"AWS_STS_REGIONAL_ENDPOINTS=regional", "AWS_ROLE_ARN=" + role, "AWS_WEB_IDENTITY_TOKEN_FILE=" + ekstest.IRSATokenFile, "mount aws-iam-token at " + ekstest.IRSAMountPath + " ro=true"},
			SidecarName:       nil,
		}},
		{"token file on a volume that is not a projected token", func(p *corev1.Pod) {
			c := &p.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "AWS_ROLE_ARN", Value: role}, corev1.EnvVar{Name: "AWS_WEB_IDENTITY_TOKEN_FILE", Value: "/app-secrets/token"})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "app-secrets", MountPath: "/app-secrets"})
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "app-secrets", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "app"}}})
		}, map[string][]string{
			InitContainerName: {"AWS_ROLE_ARN=" + role, "AWS_WEB_IDENTITY_TOKEN_FILE=/app-secrets/token"},
			SidecarName:       {"AWS_ROLE_ARN=" + role, "AWS_WEB_IDENTITY_TOKEN_FILE=/app-secrets/token"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := awsPod()
			tt.setup(pod)
			// Classic sidecars: an init container and a sidecar, so that
			// skip-containers can name one of the two.
			opts := testOptions()
			opts.NativeSidecars = false
			if _, err := Inject(pod, opts); err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for name, c := range agents(pod) {
				got[name] = identityOf(c)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("agent identity (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAWSIdentityAgentEnvWins: a variable the cluster gives every agent
// (Options.AgentEnv) is not duplicated or overridden by the app's.
func TestAWSIdentityAgentEnvWins(t *testing.T) {
	opts := testOptions()
	opts.AgentEnv = []corev1.EnvVar{{Name: "AWS_STS_REGIONAL_ENDPOINTS", Value: "legacy"}}
	pod := awsPod()
	ekstest.IRSA("arn:aws:iam::444455556666:role/execution", "").Mutate(pod)
	if _, err := Inject(pod, opts); err != nil {
		t.Fatal(err)
	}
	for name, c := range agents(pod) {
		var got []string
		for _, e := range c.Env {
			if e.Name == "AWS_STS_REGIONAL_ENDPOINTS" {
				got = append(got, e.Value)
			}
		}
		if !slices.Equal(got, []string{"legacy"}) {
			t.Errorf("%s: AWS_STS_REGIONAL_ENDPOINTS = %v, want the cluster's [legacy]", name, got)
		}
	}
}

func TestAWSRoleARN(t *testing.T) {
	const allowed = "arn:aws:iam::111122223333:role/tradepulse-secrets-reader"
	tests := []struct {
		name string
		set  map[string]string
		want string // denial; "" injects
	}{
		{"allowed", map[string]string{AnnotationAWSRoleARN: allowed}, ""},
		{"another account", map[string]string{AnnotationAWSRoleARN: "arn:aws:iam::999988887777:role/tradepulse-secrets-reader"},
			`annotation secrets.tradepulse.io/aws-role-arn: "arn:aws:iam::999988887777:role/tradepulse-secrets-reader" is not in the chart's allow-list defaults.aws.allowedRoleARNs (arn:aws:iam::111122223333:role/tradepulse-*); ask the cluster's operators to add it, or use the pod's own identity`},
		{"not a role ARN", map[string]string{AnnotationAWSRoleARN: "tradepulse-secrets-reader"},
			`annotation secrets.tradepulse.io/aws-role-arn: "tradepulse-secrets-reader" is not an IAM role ARN such as "arn:aws:iam::111122223333:role/secrets-reader"`},
		{"a path with a colon", map[string]string{AnnotationAWSRoleARN: "arn:aws:iam::111122223333:role/x:y/tradepulse-a"},
			`annotation secrets.tradepulse.io/aws-role-arn: "arn:aws:iam::111122223333:role/x:y/tradepulse-a" is not an IAM role ARN such as "arn:aws:iam::111122223333:role/secrets-reader"`},
		{"a user, not a role", map[string]string{AnnotationAWSRoleARN: "arn:aws:iam::111122223333:user/tradepulse-admin"},
			`annotation secrets.tradepulse.io/aws-role-arn: "arn:aws:iam::111122223333:user/tradepulse-admin" is not an IAM role ARN such as "arn:aws:iam::111122223333:role/secrets-reader"`},
		{"another backend", map[string]string{AnnotationBackend: "gcp", AnnotationAWSRoleARN: allowed},
			`annotation secrets.tradepulse.io/aws-role-arn: only used with backend aws; this pod's backend is gcp`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := awsPod()
			for k, v := range tt.set {
				pod.Annotations[k] = v
			}
			_, err := Inject(pod, testOptions())
			if tt.want != "" {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("err = %v\nwant %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, c := range agents(pod) {
				cfg := agentConfig(t, c)
				if cfg.Backend.AWS == nil || cfg.Backend.AWS.RoleARN != allowed {
					t.Errorf("%s: config backend %+v, want role %s", name, cfg.Backend.AWS, allowed)
				}
				var pod []string
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
						pod = append(pod, e.Name+"="+e.ValueFrom.FieldRef.FieldPath)
					}
				}
				if want := []string{EnvPodName + "=metadata.name", EnvPodNamespace + "=metadata.namespace"}; !slices.Equal(pod, want) {
					t.Errorf("%s: downward env %v, want %v", name, pod, want)
				}
			}
		})
	}
}

func TestRoleAllowed(t *testing.T) {
	patterns := []string{"arn:aws:iam::111122223333:role/tradepulse-*", "arn:aws:iam::*:role/secrets-reader", "arn:aws:iam::444455556666:role/team-?/*"}
	for arn, want := range map[string]bool{
		"arn:aws:iam::111122223333:role/tradepulse-secrets-reader": true,
		"arn:aws:iam::111122223333:role/tradepulse-":               true,
		"arn:aws:iam::111122223333:role/other":                     false,
		"arn:aws:iam::999988887777:role/tradepulse-x":              false,
		"arn:aws:iam::999988887777:role/secrets-reader":            true,
		"arn:aws:iam::999988887777:role/secrets-reader-admin":      false,
		"arn:aws-cn:iam::999988887777:role/secrets-reader":         false,
		"arn:aws:iam::444455556666:role/team-a/reader":             true,
		"arn:aws:iam::444455556666:role/team-ab/reader":            false,
		// '*' never crosses a ':' into another field
		"arn:aws:iam::111122223333:role/tradepulse-x:y": false,
		"arn:aws:iam::1:2:role/secrets-reader":          false,
	} {
		if got := roleAllowed(arn, patterns); got != want {
			t.Errorf("roleAllowed(%q) = %v, want %v", arn, got, want)
		}
	}
	if roleAllowed("arn:aws:iam::111122223333:role/x", nil) {
		t.Error("an empty allow-list allowed a role")
	}
}

func TestOptionsRejectBadRolePattern(t *testing.T) {
	opts := testOptions()
	opts.AWSAllowedRoleARNs = []string{"111122223333:role/*", "arn:aws:iam::1:role/a b"}
	err := opts.Validate()
	for _, p := range opts.AWSAllowedRoleARNs {
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("allowed aws role ARN %q: must be a role ARN or a pattern", p)) {
			t.Errorf("Validate() = %v, want it to name %q", err, p)
		}
	}
}
