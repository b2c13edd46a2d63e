package bed

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/e2e/podrunner"
	"github.com/tradepulse/secret-injector/injector"
)

// AppImage is the app container's image in every e2e pod; nothing runs
// it (the pod runner's App stands in for it).
const AppImage = "ghcr.io/tradepulse/trading-engine:1.0"

// PodSpec is an opted-in pod as a team would write it.
type PodSpec struct {
	Name, Namespace string
	// ServiceAccount defaults to PodServiceAccount.
	ServiceAccount string
	// Annotations are the pod's secrets.tradepulse.io/ annotations without
	// the prefix; inject and reload (to the App) are added.
	Annotations map[string]string
}

// RunPod creates the pod through the API server — so through the
// webhook — with what backend needs, and starts the mutated pod in the pod
// runner with app as its application. It does not wait for the pod; the
// caller stops it.
func (b *Bed) RunPod(ctx context.Context, ps PodSpec, backend Backend, app *podrunner.App) (*podrunner.Pod, error) {
	ann := map[string]string{
		injector.AnnotationInject: "true",
		injector.AnnotationReload: app.ReloadURL(),
	}
	for k, v := range ps.Annotations {
		ann[injector.Prefix+k] = v
	}
	sa := ps.ServiceAccount
	if sa == "" {
		sa = PodServiceAccount
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: ps.Name, Namespace: ps.Namespace, Annotations: ann},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			Containers:         []corev1.Container{{Name: "trading-engine", Image: AppImage}},
		},
	}
	if err := backend.PreparePod(ctx, pod); err != nil {
		return nil, err
	}
	if _, err := b.Client.CoreV1().Pods(ps.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create pod %s: %w", ps.Name, err)
	}
	p, err := podrunner.Start(ctx, podrunner.Options{Client: b.Client, Binary: agentBinary(b.Binary), Env: backend.AgentEnv(), InitTimeout: 3 * time.Minute},
		ps.Namespace, ps.Name, app)
	if err != nil {
		return nil, fmt.Errorf("run pod %s: %w", ps.Name, err)
	}
	return p, nil
}
