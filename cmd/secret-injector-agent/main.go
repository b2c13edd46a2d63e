// Command secret-injector-agent is the agent alone, the binary the
// injected init and sidecar containers run: the agent and fetch
// subcommands of secret-injector, without the webhook, the operator
// commands or the Kubernetes client they link. Smaller and faster to
// start, it is what keeps the agent's memory and start-up low (issue #14).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tradepulse/secret-injector/agent/agentcmd"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := program().Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func program() agentcmd.Program {
	return agentcmd.Program{Name: "secret-injector-agent", Version: version, Commands: agentcmd.Commands()}
}
