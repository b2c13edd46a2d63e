package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/tradepulse/secret-injector/internal/cli"
)

func TestUnknownCommand(t *testing.T) {
	if code := program().Main(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}

// TestEveryCommandsFlags: each command this binary parses prints its help
// on stdout and exits 0 for --help, and names a bad flag on stderr with a
// pointer to --help and exits 2, before doing anything. The agent's
// commands are handed, arguments and all, to secret-injector-agent, whose
// own test checks the same.
func TestEveryCommandsFlags(t *testing.T) {
	p := program()
	names := []string{"version"}
	for name, c := range p.Commands {
		if _, agent := cli.AgentCommands[name]; agent {
			if c.Setup != nil {
				t.Errorf("%s: parses its flags here; secret-injector-agent should", name)
			}
			continue
		}
		if c.Setup == nil {
			t.Errorf("%s: parses its own flags, not the frame's", name)
		}
		names = append(names, name)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if code := p.Main(context.Background(), []string{name, "--help"}, &stdout, &stderr); code != 0 || stderr.Len() > 0 {
				t.Errorf("--help: exit %d, stderr %q", code, stderr.String())
			}
			want := []string{"Usage:\n  secret-injector " + name, "-h, --help"}
			if name != "version" {
				want = append(want, "--log-level", "--log-format")
			}
			for _, w := range want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("--help lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, bad := range [][]string{{"--no-such-flag"}, {"--no-such-flag=1"}, {"-Z"}} {
				stdout.Reset()
				stderr.Reset()
				code := p.Main(context.Background(), append([]string{name}, bad...), &stdout, &stderr)
				named := map[string]string{"--no-such-flag": "unknown flag: --no-such-flag", "--no-such-flag=1": "unknown flag: --no-such-flag", "-Z": "unknown shorthand flag: 'Z' in -Z"}[bad[0]]
				if code != 2 || stdout.Len() > 0 || !strings.Contains(stderr.String(), named) ||
					!strings.Contains(stderr.String(), "Run 'secret-injector "+name+" --help' for usage.") {
					t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and the flag named on stderr", bad, code, stdout.String(), stderr.String())
				}
			}
			if name != "version" {
				stderr.Reset()
				code := p.Main(context.Background(), []string{name, "--log-level=loud"}, io.Discard, &stderr)
				if code != 2 || !strings.Contains(stderr.String(), `invalid argument "loud" for "--log-level" flag`) {
					t.Errorf("--log-level=loud: exit %d, stderr %q", code, stderr.String())
				}
			}
		})
	}
}
