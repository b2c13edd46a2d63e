package podrunner

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/internal/testkit"
)

const configEnvVar = "SECRET_INJECTOR_CONFIG"

// rewriteConfig is the runner's one departure from a kubelet: the agent
// config's in-container paths become the volumes' local directories and
// its listen addresses free loopback ports. The config is edited as
// generic JSON so that every other field passes through untouched.
func (p *Pod) rewriteConfig(c *corev1.Container, raw string) (out, admin, metrics string, err error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return "", "", "", fmt.Errorf("%s is not JSON: %w", configEnvVar, err)
	}
	mapPath := func(obj map[string]any, key string) error {
		s, ok := obj[key].(string)
		if !ok || s == "" {
			return nil
		}
		h, err := p.hostPath(c, s)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		obj[key] = h
		return nil
	}
	if _, ok := m["mountPath"]; !ok {
		m["mountPath"] = "/secrets"
	}
	if err := mapPath(m, "mountPath"); err != nil {
		return "", "", "", err
	}
	if b, ok := m["backend"].(map[string]any); ok {
		if v, ok := b["vault"].(map[string]any); ok {
			for _, k := range []string{"tokenPath", "caCert", "roleIDPath", "secretIDPath"} {
				if err := mapPath(v, k); err != nil {
					return "", "", "", err
				}
			}
		}
		if e, ok := b["env"].(map[string]any); ok {
			files, _ := e["files"].([]any)
			for i, f := range files {
				if s, ok := f.(string); ok {
					h, err := p.hostPath(c, s)
					if err != nil {
						return "", "", "", fmt.Errorf("env file: %w", err)
					}
					files[i] = h
				}
			}
		}
	}
	if admin, err = testkit.FreeAddr(); err != nil {
		return "", "", "", err
	}
	if metrics, err = testkit.FreeAddr(); err != nil {
		return "", "", "", err
	}
	m["adminAddr"], m["metricsAddr"] = admin, metrics
	b, err := json.Marshal(m)
	return string(b), admin, metrics, err
}
