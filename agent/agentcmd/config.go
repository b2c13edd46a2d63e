package agentcmd

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/tradepulse/secret-injector/agent/config"
)

// loadConfig reads the agent config from a YAML or JSON file, or, when
// path is empty, from the environment variable the injector sets.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.FromEnv()
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading agent config: %w", err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("agent config %s: %w", path, err)
	}
	cfg, err := config.Parse(js, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
