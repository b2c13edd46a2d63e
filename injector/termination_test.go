package injector

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/agent"
)

// TestInitContainerTerminationMessage: the container that holds the app
// back — the init container, or a native sidecar through its postStart
// hook — reads its termination message from the file the agent writes its
// failure to, and a failure that wrote none falls back to the log's tail
// (the agent's logs carry no values either).
func TestInitContainerTerminationMessage(t *testing.T) {
	for _, tt := range []struct {
		mode   string
		native bool
		gate   string
	}{
		{ModeInitSidecar, true, SidecarName},
		{ModeInitSidecar, false, InitContainerName},
		{ModeInit, true, InitContainerName},
		{ModeSidecar, true, SidecarName},
	} {
		mode := tt.mode
		opts := testOptions()
		opts.NativeSidecars = tt.native
		pod := examplePod(map[string]string{AnnotationInject: "true", AnnotationMode: mode,
			AnnotationSecretPrefix + "api-key": "tradepulse/exchanges/binance/api-key"})
		if _, err := Inject(pod, opts); err != nil {
			t.Fatal(err)
		}
		var init *corev1.Container
		for i := range pod.Spec.InitContainers {
			if pod.Spec.InitContainers[i].Name == tt.gate {
				init = &pod.Spec.InitContainers[i]
			}
		}
		if init == nil {
			t.Fatalf("mode %s (native %v): no init container %s", mode, tt.native, tt.gate)
		}
		if init.TerminationMessagePath != agent.TerminationLog || init.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
			t.Errorf("mode %s: termination message %q, %q; want %q, FallbackToLogsOnError",
				mode, init.TerminationMessagePath, init.TerminationMessagePolicy, agent.TerminationLog)
		}
	}
}
