// Command secret-injector-agent is the agent alone, the binary the
// injected init and sidecar containers run: the agent, exec (env mode's
// wrapper) and fetch commands, without the webhook, the operator commands
// or the Kubernetes client they link. secret-injector runs these commands
// by executing it.
package main

import (
	"github.com/tradepulse/secret-injector/agent/agentcmd"
	"github.com/tradepulse/secret-injector/internal/cli"
)

func main() { program().Exit() }

func program() cli.Program {
	return cli.Program{Name: cli.AgentBinary, Summary: "the secret-injector agent: fills and refreshes a pod's secrets volume",
		Commands: agentcmd.Commands()}
}
