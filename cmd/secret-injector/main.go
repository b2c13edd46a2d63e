// Command secret-injector is the project's full binary: the admission
// webhook, the operator's tools and the in-pod agent, as subcommands. The
// injected containers run secret-injector-agent, the agent alone.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/tradepulse/secret-injector/agent/agentcmd"
	"github.com/tradepulse/secret-injector/ctl"
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
	cmds := agentcmd.Commands()
	cmds["refresh"] = agentcmd.Command{Summary: "force a fetch in the selected pods' agents; restart workloads that cannot reload", Run: ctlCommand("refresh")}
	cmds["revoke"] = agentcmd.Command{Summary: "revoke the selected pods' Vault leases and wait for fresh credentials", Run: ctlCommand("revoke")}
	cmds["status"] = agentcmd.Command{Summary: "show each selected pod's secrets: status, version, last success, lease expiry", Run: ctlCommand("status")}
	cmds["webhook"] = agentcmd.Command{Summary: "run the mutating admission webhook that injects the agent", Run: runWebhook}
	return agentcmd.Program{Name: "secret-injector", Version: version, Commands: cmds, UsageErrors: []error{ctl.ErrUsage}}
}
