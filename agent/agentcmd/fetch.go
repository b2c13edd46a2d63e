package agentcmd

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tradepulse/secret-injector/agent/metrics"
)

// defaultLocalConfig is the config `fetch` and `make run` use on a fresh
// clone.
const defaultLocalConfig = "examples/agent.yaml"

func runFetch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	configPath := fs.String("config", defaultLocalConfig, "agent config file (YAML or JSON)")
	out := fs.String("out", ".secrets", "directory to write into")
	logFormat := fs.String("log-format", "text", "json or text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	cfg.MountPath = *out
	warnIfNotIgnored(*out)
	log := newLogger(*logFormat).With("backend", cfg.Backend.Type)
	a, closeBackend, err := buildAgent(ctx, cfg, agentOptions{mode: "init"}, log, metrics.New(prometheus.NewRegistry()))
	if err != nil {
		return err
	}
	defer closeBackend()
	if err := a.agent.RunInit(ctx); err != nil {
		return err
	}
	fmt.Printf("wrote %d secrets into %s/\n", len(cfg.Secrets), *out)
	return nil
}

// warnIfNotIgnored warns when dir would be committed: secrets fetched for
// inspection must never reach git.
func warnIfNotIgnored(dir string) {
	if _, err := exec.LookPath("git"); err != nil {
		return
	}
	if err := exec.Command("git", "rev-parse", "--is-inside-work-tree").Run(); err != nil {
		return
	}
	if err := exec.Command("git", "check-ignore", "-q", dir).Run(); err != nil {
		fmt.Fprintf(os.Stderr, "WARNING: %s/ is not git-ignored; add %q to .gitignore before fetching secrets into it\n", dir, "/"+dir+"/")
	}
}
