// Command secret-injector is the one binary of the project: the admission
// webhook, the in-pod agent, and the operator's tools, as subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tradepulse/secret-injector/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"agent":   {"run the agent: --mode init (fill the volume, then exit) or --mode sidecar (keep it fresh)", runAgent},
		"fetch":   {"fetch every secret once into .secrets/ for inspection (local development)", runFetch},
		"refresh": {"force a fetch in the selected pods' agents; restart workloads that cannot reload", ctlCommand("refresh")},
		"revoke":  {"revoke the selected pods' Vault leases and wait for fresh credentials", ctlCommand("revoke")},
		"status":  {"show each selected pod's secrets: status, version, last success, lease expiry", ctlCommand("status")},
		"version": {"print the version", runVersion},
		"webhook": {"run the mutating admission webhook that injects the agent", runWebhook},
	}
}

func run(ctx context.Context, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(cmds)
		return 2
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "secret-injector: unknown command %q\n\n", args[0])
		usage(cmds)
		return 2
	}
	switch err := c.run(ctx, args[1:]); {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		// -h printed the flags; asking for help is not a failure.
	case errors.Is(err, ctl.ErrUsage):
		fmt.Fprintf(os.Stderr, "secret-injector %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(os.Stderr, "secret-injector %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(cmds map[string]command) {
	fmt.Fprintln(os.Stderr, "usage: secret-injector <command> [flags]\n\ncommands:")
	for _, name := range sortedKeys(cmds) {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", name, cmds[name].summary)
	}
	fmt.Fprintln(os.Stderr, "\nrun 'secret-injector <command> -h' for its flags")
}
