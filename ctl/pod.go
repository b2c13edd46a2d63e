package ctl

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/injector"
)

// podKey is how a pod is named in every message: namespace/name.
func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// injected says whether the webhook injected the agent into pod.
func injected(pod *corev1.Pod) bool {
	return pod.Annotations[injector.AnnotationStatus] == injector.StatusInjected
}

// cannotReload says whether the pod declared that its app cannot reload, so
// that refresh must restart its workload.
func cannotReload(pod *corev1.Pod) bool {
	return pod.Annotations[injector.AnnotationReload] == injector.ReloadRestart
}

// sidecar finds the agent that keeps the pod's secrets fresh: a native
// sidecar (an init container with restartPolicy Always) or a classic one
// (a regular container). Pods injected with mode init have none.
func sidecar(pod *corev1.Pod) *corev1.Container {
	for i, c := range pod.Spec.InitContainers {
		if c.Name == injector.SidecarName && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return &pod.Spec.InitContainers[i]
		}
	}
	for i, c := range pod.Spec.Containers {
		if c.Name == injector.SidecarName {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// agentConfig is the part of the agent config (config.Config, which the
// webhook writes as JSON into the agent containers' environment) that the
// commands need. The rest is the agent's business.
type agentConfig struct {
	AdminAddr string `json:"adminAddr"`
	Secrets   []struct {
		Name string `json:"name"`
	} `json:"secrets"`
}

// podAgentConfig reads the agent config from the sidecar, else from the
// init container (mode init). ok is false when neither carries one.
func podAgentConfig(pod *corev1.Pod) (cfg agentConfig, ok bool, err error) {
	var cs []corev1.Container
	if c := sidecar(pod); c != nil {
		cs = append(cs, *c)
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == injector.InitContainerName {
			cs = append(cs, c)
		}
	}
	for _, c := range cs {
		for _, e := range c.Env {
			if e.Name != config.EnvVar || e.Value == "" {
				continue
			}
			if err := json.Unmarshal([]byte(e.Value), &cfg); err != nil {
				return cfg, false, fmt.Errorf("pod %s: the agent config in %s of container %s is not JSON: %w", podKey(pod), config.EnvVar, c.Name, err)
			}
			return cfg, true, nil
		}
	}
	return cfg, false, nil
}

// holdsSecret says whether the pod's agent config declares secret name;
// true when the pod carries no readable config, so that the agent decides.
func holdsSecret(pod *corev1.Pod, name string) bool {
	cfg, ok, err := podAgentConfig(pod)
	if !ok || err != nil {
		return true
	}
	for _, s := range cfg.Secrets {
		if s.Name == name {
			return true
		}
	}
	return false
}

// AdminPort is the port the pod's agent serves its admin API on: the one
// in the agent config of its sidecar, else config.DefaultAdminAddr's.
func AdminPort(pod *corev1.Pod) (int, error) {
	if sidecar(pod) == nil {
		return 0, fmt.Errorf("pod %s has no %s container", podKey(pod), injector.SidecarName)
	}
	cfg, _, err := podAgentConfig(pod)
	if err != nil {
		return 0, err
	}
	addr := cfg.AdminAddr
	if addr == "" {
		addr = config.DefaultAdminAddr
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("pod %s: agent adminAddr %q: %w", podKey(pod), addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("pod %s: agent adminAddr %q has no valid port", podKey(pod), addr)
	}
	return port, nil
}

// initOnly says whether a running pod has no sidecar (mode init): only a
// restart gives it new secrets.
func initOnly(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning && sidecar(pod) == nil
}

// unreachable says why the pod's agent cannot be asked anything, or "" when
// it can be tried.
func unreachable(pod *corev1.Pod) string {
	switch {
	case pod.DeletionTimestamp != nil:
		return "terminating"
	case pod.Status.Phase != corev1.PodRunning:
		phase := string(pod.Status.Phase)
		if phase == "" {
			phase = "not started"
		}
		return "not running (" + phase + "); its agent fetches every secret when it starts"
	case sidecar(pod) == nil:
		return "no " + injector.SidecarName + " sidecar (mode init): secrets are fetched only when the pod starts"
	}
	return ""
}

// sidecarHint describes the sidecar's state from the pod status, to explain
// why its agent did not answer; "" when it looks healthy or is unknown.
func sidecarHint(pod *corev1.Pod) string {
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, s := range statuses {
		if s.Name != injector.SidecarName {
			continue
		}
		switch {
		case s.State.Waiting != nil:
			return fmt.Sprintf("container %s is waiting: %s", s.Name, s.State.Waiting.Reason)
		case s.State.Terminated != nil:
			return fmt.Sprintf("container %s terminated: %s", s.Name, s.State.Terminated.Reason)
		case !s.Ready:
			return fmt.Sprintf("container %s is not ready (%d restarts)", s.Name, s.RestartCount)
		}
	}
	return ""
}
