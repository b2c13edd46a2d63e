package agentcmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tradepulse/secret-injector/agent"
	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/internal/cli"
)

// waitPoll is how often wait asks the agent whether it is ready: the
// question is a loopback round trip, and the app's start waits on it.
const waitPoll = 20 * time.Millisecond

// waitSetup is the wait command for the frame: the native sidecar's
// postStart hook, `secret-injector-agent wait`. The kubelet starts the
// pod's next containers only once the hook has returned, so the app starts
// the moment the sidecar's first pass has written every required secret:
// no init container to run and reap, no startup probe's one-second period.
// If the agent is not ready within the config's initTimeout, wait fails
// with the reason; the kubelet then restarts the sidecar, reports the
// reason in a FailedPostStartHook event, and shows it, through the
// termination log, as the sidecar's last state. The app never starts
// without its secrets.
func waitSetup(fs *pflag.FlagSet) cli.RunFunc {
	var (
		configPath, terminationLog string
		timeout                    time.Duration
	)
	fs.StringVar(&configPath, "config", "", "agent config file (YAML or JSON); default: $"+config.EnvVar)
	fs.DurationVar(&timeout, "timeout", 0, "give up after this long; default: the config's initTimeout")
	fs.StringVar(&terminationLog, "termination-log", agent.TerminationLog, "the file a failure's reason goes to, for kubectl describe pod (written only if it exists)")
	return func(ctx context.Context, _ []string) error {
		cfg, err := loadConfig(configPath)
		if err != nil {
			return err
		}
		limit := cmp.Or(timeout, time.Duration(cfg.InitTimeout))
		c := &admin.Client{HTTP: &http.Client{Timeout: time.Second}, BaseURL: "http://" + cfg.AdminAddr}
		if err := waitReady(ctx, c, limit, waitPoll); err != nil {
			if werr := agent.WriteTerminationMessage(terminationLog, err); werr != nil {
				err = errors.Join(err, fmt.Errorf("writing the termination message: %w", werr))
			}
			return err
		}
		return nil
	}
}

// waitReady asks the agent's admin API for its status every poll until it
// says ready, and after limit fails naming each required secret not
// written, its reference and the backend's last answer (never a value:
// the status carries none).
func waitReady(ctx context.Context, c *admin.Client, limit, poll time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last admin.Status
	var lastErr error
	for {
		s, err := c.Status(ctx)
		switch {
		case err == nil && s.Ready:
			return nil
		case err == nil:
			last, lastErr = s, nil
		case ctx.Err() == nil:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return notReady(limit, last, lastErr)
		case <-time.After(poll):
		}
	}
}

func notReady(limit time.Duration, s admin.Status, err error) error {
	if err != nil {
		return fmt.Errorf("the agent did not answer within %s: %w; see the sidecar's log (kubectl logs -c secret-injector-agent)", limit, err)
	}
	var missing []string
	for _, ss := range s.Secrets {
		if ss.OK {
			continue
		}
		why := cmp.Or(ss.LastError, "not fetched yet")
		missing = append(missing, fmt.Sprintf("%s (%s): %s", ss.Name, ss.Ref, why))
	}
	return fmt.Errorf("secrets not written within %s:\n  %s\ncheck the references and that the pod's identity may read them",
		limit, strings.Join(missing, "\n  "))
}
