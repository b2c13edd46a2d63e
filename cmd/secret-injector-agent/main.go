// Command secret-injector-agent is the agent alone, the binary the
// injected init and sidecar containers run: the agent and fetch commands,
// without the webhook, the operator commands or the Kubernetes client they
// link. secret-injector runs these two commands by executing it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tradepulse/secret-injector/agent/agentcmd"
	"github.com/tradepulse/secret-injector/internal/cli"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := program().Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func program() cli.Program {
	return cli.Program{Name: cli.AgentBinary, Version: version, Commands: agentcmd.Commands()}
}
