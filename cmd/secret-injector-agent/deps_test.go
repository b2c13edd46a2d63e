package main

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// forbiddenDeps are the packages the agent binary must not link, by
// prefix: the Kubernetes client and controller-runtime (the webhook's and
// the operator commands'), and the project's packages that use them. The
// agent never reads the Kubernetes API (DESIGN.md); linking them cost it
// ~25 MiB of RSS and ~10 ms of start (docs/performance.md).
var forbiddenDeps = []string{
	"k8s.io/client-go",
	"sigs.k8s.io/controller-runtime",
	"k8s.io/api/",
	"k8s.io/apimachinery",
	"github.com/tradepulse/secret-injector/injector",
	"github.com/tradepulse/secret-injector/webhook",
	"github.com/tradepulse/secret-injector/ctl",
}

// TestAgentBinaryLinksNoKubernetesClient fails when a change makes the
// agent binary depend on the Kubernetes client or the webhook, as
// `go list -deps` of this package (what `go build` links) says.
func TestAgentBinaryLinksNoKubernetesClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), deps)
	}
	for _, d := range deps {
		for _, f := range forbiddenDeps {
			if d == strings.TrimSuffix(f, "/") || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/") {
				t.Errorf("the agent binary links %s (forbidden: %s); find the import with `go mod why -m` or `go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/secret-injector-agent`", d, f)
			}
		}
	}
}

// The agent binary has the agent's commands and nothing else.
func TestCommands(t *testing.T) {
	p := program()
	var names []string
	for name := range p.Commands {
		names = append(names, name)
	}
	if len(names) != 4 || p.Commands["agent"].Setup == nil || p.Commands["fetch"].Setup == nil || p.Commands["wait"].Setup == nil || p.Commands["exec"].Run == nil {
		t.Errorf("commands %q, want agent, fetch, wait (the native sidecar's postStart hook) and exec (env mode's wrapper)", names)
	}
	if code := p.Main(context.Background(), []string{"webhook"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("webhook: exit %d, want 2 (unknown command)", code)
	}
	if code := p.Main(context.Background(), []string{"version"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("version: exit %d, want 0", code)
	}
}
