// Package charttest renders the secret-injector Helm chart with the real helm
// CLI and decodes what it renders. The chart's own tests live here; the e2e
// suite uses Render to install exactly the webhook configuration, RBAC and
// Service that the chart ships.
package charttest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// ReleaseName is the release name Render uses; with the chart's naming it is
// also the full name of every object ("secret-injector").
const ReleaseName = "secret-injector"

// helmTimeout bounds one helm invocation; rendering takes well under a second.
const helmTimeout = 2 * time.Minute

// ChartDir is the absolute path of charts/secret-injector in the source tree
// this package was built from.
func ChartDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "secret-injector")
}

// FindHelm returns the helm binary to use: $HELM (what `hack/k8s-tools.sh env`
// exports), else helm on PATH.
func FindHelm() (string, error) {
	if p := os.Getenv("HELM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("HELM=%s: %w", p, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("helm")
	if err != nil {
		return "", errors.New("helm not found: set HELM or run hack/k8s-tools.sh helm")
	}
	return p, nil
}

// Template runs `helm template` on the chart with the given values (nil for
// the defaults) as release ReleaseName in namespace, and returns the
// manifest. A values problem, such as a key the schema does not know, comes
// back as an error carrying helm's message.
func Template(helmPath string, values map[string]any, namespace string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "charttest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	valuesFile := filepath.Join(dir, "values.yaml")
	if values == nil {
		values = map[string]any{}
	}
	b, err := yaml.Marshal(values)
	if err != nil {
		return nil, fmt.Errorf("encode values: %w", err)
	}
	if err := os.WriteFile(valuesFile, b, 0o600); err != nil {
		return nil, err
	}
	return runHelm(helmPath, "template", ReleaseName, ChartDir(),
		"--namespace", namespace, "--values", valuesFile)
}

// Render is Template followed by Decode.
func Render(helmPath string, values map[string]any, namespace string) ([]*unstructured.Unstructured, error) {
	manifest, err := Template(helmPath, values, namespace)
	if err != nil {
		return nil, err
	}
	return Decode(manifest)
}

// Decode splits a multi-document YAML manifest into objects, skipping empty
// documents (helm leaves one per template that renders nothing).
func Decode(manifest []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifest)))
	var objs []*unstructured.Unstructured
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read document %d: %w", i, err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("decode document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("document %d has no kind or apiVersion", i)
		}
		objs = append(objs, u)
	}
}

// runHelm runs helm with args and returns its stdout; on failure the error
// holds helm's stderr.
func runHelm(helmPath string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), helmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, helmPath, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm %s: %w: %s", args[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}
