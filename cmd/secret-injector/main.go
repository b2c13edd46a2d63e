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

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = ""

func main() { program().Exit() }

func program() cli.Program {
	cmds := map[string]cli.Command{
		"refresh": {Summary: "force a fetch in the selected pods' agents; restart workloads that cannot reload", Run: ctlCommand("refresh")},
		"revoke":  {Summary: "revoke the selected pods' Vault leases and wait for fresh credentials", Run: ctlCommand("revoke")},
		"status":  {Summary: "show each selected pod's secrets: status, version, last success, lease expiry", Run: ctlCommand("status")},
		"webhook": {Summary: "run the mutating admission webhook that injects the agent", Run: runWebhook},
	}
	for name, summary := range cli.AgentCommands {
		cmds[name] = cli.Command{Summary: summary, Run: agentCommand(name)}
	}
	return cli.Program{Name: "secret-injector", Version: version, Commands: cmds, UsageErrors: []error{ctl.ErrUsage}}
}
