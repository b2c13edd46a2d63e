package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// TestEveryCommandsFlags: each command prints its help on stdout and
// exits 0 for --help, and names a bad flag on stderr with a pointer to
// --help and exits 2, before doing anything.
func TestEveryCommandsFlags(t *testing.T) {
	p := program()
	for _, name := range []string{"agent", "fetch", "version"} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if code := p.Main(context.Background(), []string{name, "--help"}, &stdout, &stderr); code != 0 || stderr.Len() > 0 {
				t.Errorf("--help: exit %d, stderr %q", code, stderr.String())
			}
			want := []string{"Usage:\n  secret-injector-agent " + name, "-h, --help"}
			if name != "version" {
				want = append(want, "--config", "--log-level", "--log-format")
			}
			for _, w := range want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("--help lacks %q:\n%s", w, stdout.String())
				}
			}
			for bad, named := range map[string]string{
				"--no-such-flag": "unknown flag: --no-such-flag",
				// Go's flag package took -config; a kubectl-style parser
				// reads it as the shorthands -c -o -n...
				"-config=a.yaml":   "unknown shorthand flag: 'c' in -config=a.yaml",
				"--log-level=loud": `invalid argument "loud" for "--log-level" flag: want debug, info, warn or error`,
			} {
				if name == "version" && strings.HasPrefix(bad, "--log-level") {
					continue // version does not log
				}
				stdout.Reset()
				stderr.Reset()
				code := p.Main(context.Background(), []string{name, bad}, &stdout, &stderr)
				if code != 2 || stdout.Len() > 0 || !strings.Contains(stderr.String(), named) ||
					!strings.Contains(stderr.String(), "Run 'secret-injector-agent "+name+" --help' for usage.") {
					t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and %q on stderr", bad, code, stdout.String(), stderr.String(), named)
				}
			}
		})
	}
}

// TestTheInjectorsArgsParse: the arguments the injector writes into the
// agent containers (its golden pods) are ones this binary's parser takes:
// each run gets past its flags to reading the config (exit 1, as the
// config file does not exist), not a usage error (exit 2).
func TestTheInjectorsArgsParse(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join("..", "..", "injector", "testdata", "*.golden.yaml"))
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no injector goldens: %v", err)
	}
	type container struct {
		Command []string `json:"command"`
		Args    []string `json:"args"`
	}
	var pod struct {
		Spec struct {
			InitContainers []container `json:"initContainers"`
			Containers     []container `json:"containers"`
		} `json:"spec"`
	}
	seen := map[string]bool{}
	for _, g := range goldens {
		raw, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		pod.Spec.InitContainers, pod.Spec.Containers = nil, nil
		if err := yaml.Unmarshal(raw, &pod); err != nil {
			t.Fatalf("%s: %v", g, err)
		}
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			// The agent containers run the binary alone; env mode's
			// wrapped app containers run its exec command with the app's
			// own command and args.
			if len(c.Command) != 1 || filepath.Base(c.Command[0]) != "secret-injector-agent" {
				continue
			}
			key := strings.Join(c.Args, " ")
			if seen[key] {
				continue
			}
			seen[key] = true
			var stderr strings.Builder
			args := append(append([]string{}, c.Args...), "--config", filepath.Join(t.TempDir(), "absent.yaml"), "--termination-log", filepath.Join(t.TempDir(), "absent"))
			// Env mode's copy of the binary goes where this test may write.
			if i := slices.Index(args, "--install-exec"); i >= 0 {
				args[i+1] = filepath.Join(t.TempDir(), "secret-injector-agent")
			}
			if code := program().Main(context.Background(), args, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "reading agent config") {
				t.Errorf("%s: %q: exit %d, %s; want 1 (the config is absent)", filepath.Base(g), c.Args, code, stderr.String())
			}
		}
	}
	if len(seen) < 3 {
		t.Errorf("found %d distinct agent command lines in the goldens, want init, sidecar and native sidecar: %v", len(seen), seen)
	}
}

// TestVersionStampedByMake builds this binary with the -ldflags `make
// build` uses and checks that `version -o json` reports what they stamp:
// the linker ignores an -X whose symbol does not exist, so a misspelt
// package path would silently leave "dev" in every release.
func TestVersionStampedByMake(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	mk := exec.Command("make", "-n", "--no-print-directory", "build", "VERSION=v9.8.7", "REVISION=0123abcd", "SOURCE_DATE_EPOCH=1764504000")
	mk.Dir = filepath.Join("..", "..")
	out, err := mk.Output()
	if err != nil {
		t.Fatalf("make -n build: %v", err)
	}
	m := regexp.MustCompile(`-ldflags '([^']*)'`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no -ldflags in make build's command:\n%s", out)
	}
	bin := filepath.Join(t.TempDir(), "agent")
	// The ldflags alone: the rest of make's command (CGO_ENABLED=0,
	// -trimpath) would rebuild every package instead of linking the test's.
	if b, err := exec.Command("go", "build", "-ldflags", string(m[1]), "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags %q: %v\n%s", m[1], err, b)
	}
	js, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("version -o json: %v", err)
	}
	var got map[string]string
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	want := map[string]string{"version": "v9.8.7", "commit": "0123abcd", "buildDate": "2025-11-30T12:00:00Z",
		"goVersion": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("version -o json of a make-stamped build (-want +got):\n%s", d)
	}
}
