package bed

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tradepulse/secret-injector/agent/backend/aws/awstest"
	"github.com/tradepulse/secret-injector/agent/backend/gcp"
	"github.com/tradepulse/secret-injector/agent/backend/gcp/gcptest"
	"github.com/tradepulse/secret-injector/injector"
)

// GCPProject is the project the webhook resolves runbook paths in.
const GCPProject = "tradepulse-e2e"

// AWSRegion is the region injected pods use.
const AWSRegion = "eu-west-1"

// Backend is what a scenario does to a secret store, the same way for
// every backend: provision, rotate and delete secrets named by the
// runbook's paths (tradepulse/postgres-tls, ...), and prepare a pod to
// read them.
type Backend interface {
	// Name is the backend annotation's value.
	Name() string
	// Ref is the reference a pod's secret-<name> annotation gives for the
	// runbook path; object says the value is a JSON object (read whole).
	Ref(path string, object bool) string
	// Put provisions or rotates path; object as for Ref.
	Put(ctx context.Context, path string, value []byte, object bool) error
	// Delete removes path and every version of it.
	Delete(ctx context.Context, path string) error
	// PreparePod adds what the backend needs to a pod in namespace ns
	// (annotations, volumes) and creates any object it refers to.
	PreparePod(ctx context.Context, pod *corev1.Pod) error
	// AgentEnv is added to the agent processes' environment: what the
	// platform, not the pod spec, provides (AWS credentials from IRSA).
	AgentEnv() []string
}

// --- gcp

type gcpBackend struct{ s *gcptest.Server }

func (gcpBackend) Name() string { return "gcp" }
func (gcpBackend) Ref(path string, _ bool) string {
	return path
}

func (g gcpBackend) name(path string) (string, error) {
	id, err := gcp.SecretID(path)
	if err != nil {
		return "", err
	}
	return "projects/" + GCPProject + "/secrets/" + id, nil
}

func (g gcpBackend) Put(_ context.Context, path string, value []byte, _ bool) error {
	n, err := g.name(path)
	if err != nil {
		return err
	}
	g.s.Put(n, value)
	return nil
}

func (g gcpBackend) Delete(_ context.Context, path string) error {
	n, err := g.name(path)
	if err != nil {
		return err
	}
	g.s.Delete(n)
	return nil
}

func (gcpBackend) PreparePod(_ context.Context, pod *corev1.Pod) error {
	setAnnotation(pod, injector.AnnotationBackend, "gcp")
	return nil
}

func (gcpBackend) AgentEnv() []string { return nil }

// --- aws

type awsBackend struct{ s *awstest.Server }

func (awsBackend) Name() string                   { return "aws" }
func (awsBackend) Ref(path string, _ bool) string { return path }
func (a awsBackend) Put(_ context.Context, path string, value []byte, _ bool) error {
	a.s.Put(path, value, false)
	return nil
}
func (a awsBackend) Delete(_ context.Context, path string) error {
	a.s.Delete(path)
	return nil
}
func (awsBackend) PreparePod(_ context.Context, pod *corev1.Pod) error {
	setAnnotation(pod, injector.AnnotationBackend, "aws")
	return nil
}

// AgentEnv stands in for IRSA: static credentials the in-process server
// accepts (it checks the SigV4 shape, not the secret).
func (awsBackend) AgentEnv() []string {
	return []string{"AWS_ACCESS_KEY_ID=AKIAE2EEXAMPLE", "AWS_SECRET_ACCESS_KEY=e2e-not-a-secret", "AWS_REGION=" + AWSRegion}
}

// --- env

// EnvConfigMap is the ConfigMap holding the .env file of env-backend pods,
// mounted through the secret-injector-env volume.
const EnvConfigMap = "dotenv"

// envBackend keeps one .env (as the ConfigMap's ".env" key) and writes it
// into the ConfigMap of every namespace a pod was prepared in. The pod
// runner projects ConfigMaps the way the kubelet does.
type envBackend struct {
	client kubernetes.Interface
	mu     sync.Mutex
	vars   map[string]string
	nss    map[string]bool
}

func (*envBackend) Name() string { return "env" }

// Ref is the path itself: the env backend maps it to a variable name.
func (*envBackend) Ref(path string, _ bool) string { return path }

// VarName is the env backend's rule: upper case, [A-Z0-9_] only.
func VarName(ref string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, ref)
}

func (e *envBackend) Put(ctx context.Context, path string, value []byte, _ bool) error {
	if strings.Contains(string(value), "'") {
		return fmt.Errorf("env backend fixture: value of %s has a single quote", path)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.vars[VarName(path)] = string(value)
	return e.syncLocked(ctx)
}

func (e *envBackend) Delete(ctx context.Context, path string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.vars, VarName(path))
	return e.syncLocked(ctx)
}

func (e *envBackend) dotenv() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(e.vars)) {
		fmt.Fprintf(&b, "%s='%s'\n", k, e.vars[k]) // single quotes: literal
	}
	return b.String()
}

func (e *envBackend) syncLocked(ctx context.Context) error {
	for ns := range e.nss {
		err := e.writeLocked(ctx, ns)
		if apierrors.IsNotFound(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// The namespace of an earlier test is gone.
			delete(e.nss, ns)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *envBackend) writeLocked(ctx context.Context, ns string) error {
	cms := e.client.CoreV1().ConfigMaps(ns)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: EnvConfigMap, Namespace: ns},
		Data: map[string]string{".env": e.dotenv()}}
	_, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("write configmap %s/%s: %w", ns, EnvConfigMap, err)
	}
	return nil
}

func (e *envBackend) PreparePod(ctx context.Context, pod *corev1.Pod) error {
	setAnnotation(pod, injector.AnnotationBackend, "env")
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "secret-injector-env",
		VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: EnvConfigMap}}}})
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.nss[pod.Namespace] {
		return nil
	}
	e.nss[pod.Namespace] = true
	return e.writeLocked(ctx, pod.Namespace)
}

func (*envBackend) AgentEnv() []string { return nil }

func setAnnotation(pod *corev1.Pod, k, v string) {
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[k] = v
}
