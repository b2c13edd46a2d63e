package agentcmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/tradepulse/secret-injector/agent/metrics"
	"github.com/tradepulse/secret-injector/internal/cli"
)

// defaultLocalConfig is the config `fetch` and `make run` use on a fresh
// clone.
const defaultLocalConfig = "examples/agent.yaml"

// fetchSetup is the fetch command for the frame: its flags, then the run.
func fetchSetup(fs *pflag.FlagSet) cli.RunFunc {
	var configPath, out string
	fs.StringVar(&configPath, "config", defaultLocalConfig, "agent config file (YAML or JSON)")
	fs.StringVar(&out, "out", ".secrets", "directory to write into")
	logs := cli.AddLogFlags(fs, "text")
	return func(ctx context.Context, _ []string) error {
		return runFetch(ctx, configPath, out, logs.Logger(cli.Stderr(ctx)), cli.Stdout(ctx))
	}
}

// runFetch fetches every secret of the config at configPath once into
// out and says so on stdout.
func runFetch(ctx context.Context, configPath, out string, log *slog.Logger, stdout io.Writer) error {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	cfg.MountPath = out
	warnIfNotIgnored(out)
	log = log.With("backend", cfg.Backend.Type)
	a, closeBackend, err := buildAgent(ctx, cfg, agentOptions{mode: "init"}, log, metrics.New(prometheus.NewRegistry()))
	if err != nil {
		return err
	}
	defer closeBackend()
	if err := a.agent.RunInit(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d secrets into %s/\n", len(cfg.Secrets), out)
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
