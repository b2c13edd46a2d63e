// Command secret-injector is the project's command line: the admission
// webhook, the operator's tools (status, refresh, revoke) and, by running
// secret-injector-agent from beside it, the agent's commands (agent,
// exec, fetch). The agent is a binary of its own so that neither binary
// links the other's dependencies: the agent no Kubernetes client, the webhook no
// cloud SDK.
package main

import (
	"github.com/tradepulse/secret-injector/ctl"
	"github.com/tradepulse/secret-injector/internal/cli"
)

func main() { program().Exit() }

func program() cli.Program {
	cmds := map[string]cli.Command{
		"webhook": {Summary: "run the mutating admission webhook that injects the agent", Setup: webhookSetup},
	}
	for _, verb := range ctl.Verbs {
		cmds[verb] = ctlCommand(verb)
	}
	for name, summary := range cli.AgentCommands {
		cmds[name] = cli.Command{Summary: summary + " (runs " + cli.AgentBinary + ")", Run: agentCommand(name)}
	}
	return cli.Program{Name: "secret-injector", Summary: "inject secrets into Kubernetes pods, and operate the agents that keep them fresh",
		Commands: cmds, UsageErrors: []error{ctl.ErrUsage}}
}
