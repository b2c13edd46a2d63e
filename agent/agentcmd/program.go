// Package agentcmd is the agent's command line: the `agent` subcommand the
// injected containers run, `exec` (env mode's wrapper, in the app's
// containers) and `fetch` for local work. secret-injector-agent
// is this package and wiring; secret-injector hands these commands to it.
//
// It imports no Kubernetes client, webhook or operator code: a test of
// cmd/secret-injector-agent keeps the agent binary so.
package agentcmd

import (
	"log/slog"
	"os"

	"github.com/tradepulse/secret-injector/internal/cli"
)

// Commands returns the agent's subcommands, agent, fetch and exec.
func Commands() map[string]cli.Command {
	return map[string]cli.Command{
		"agent": {Summary: cli.AgentCommands["agent"], Run: runAgent},
		"fetch": {Summary: cli.AgentCommands["fetch"], Run: runFetch},
		"exec":  {Summary: cli.AgentCommands["exec"], Run: runExec},
	}
}

func newLogger(format string) *slog.Logger { return cli.NewLogger(os.Stderr, format) }
