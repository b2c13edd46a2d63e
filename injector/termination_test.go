package injector

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/agent"
)

// TestInitContainerTerminationMessage: the init container's termination
// message is read from the file the agent writes its failure to, and a
// failure that wrote none falls back to the log's tail (the agent's logs
// carry no values either).
func TestInitContainerTerminationMessage(t *testing.T) {
	for _, mode := range []string{ModeInitSidecar, ModeInit} {
		pod := examplePod(map[string]string{AnnotationInject: "true", AnnotationMode: mode,
			AnnotationSecretPrefix + "api-key": "tradepulse/exchanges/binance/api-key"})
		if _, err := Inject(pod, testOptions()); err != nil {
			t.Fatal(err)
		}
		var init *corev1.Container
		for i := range pod.Spec.InitContainers {
			if pod.Spec.InitContainers[i].Name == InitContainerName {
				init = &pod.Spec.InitContainers[i]
			}
		}
		if init == nil {
			t.Fatalf("mode %s: no init container", mode)
		}
		if init.TerminationMessagePath != agent.TerminationLog || init.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
			t.Errorf("mode %s: termination message %q, %q; want %q, FallbackToLogsOnError",
				mode, init.TerminationMessagePath, init.TerminationMessagePolicy, agent.TerminationLog)
		}
	}
}
