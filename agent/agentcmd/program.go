// Package agentcmd is the agent's command line: the `agent` subcommand the
// injected containers run, `exec` (env mode's wrapper, in the app's
// containers) and `fetch` for local work. secret-injector-agent
// is this package and wiring; secret-injector hands these commands to it.
//
// It imports no Kubernetes client, webhook or operator code: a test of
// cmd/secret-injector-agent keeps the agent binary so.
package agentcmd

import (
	"github.com/tradepulse/secret-injector/internal/cli"
)

// Commands returns the agent's subcommands: agent, fetch, wait (the
// native sidecar's postStart hook) and exec (env mode's wrapper).
func Commands() map[string]cli.Command {
	return map[string]cli.Command{
		"agent": {Summary: cli.AgentCommands["agent"], Setup: agentSetup},
		"fetch": {Summary: cli.AgentCommands["fetch"], Setup: fetchSetup},
		"wait":  {Summary: cli.AgentCommands["wait"], Setup: waitSetup},
		// exec parses its own arguments: the app's command follows --.
		"exec": {Summary: cli.AgentCommands["exec"], Run: runExec},
	}
}
