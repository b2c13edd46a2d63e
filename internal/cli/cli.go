// Package cli is the small frame every binary of the project is built on:
// subcommands with their own flags, a `version` command, exit codes, and
// the loggers. It imports nothing of the project, so that
// secret-injector-agent (the agent alone) and secret-injector (the webhook
// and the operator commands) share it without linking each other's
// dependencies.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"syscall"
)

// Command is one subcommand: it parses its own flags from args.
type Command struct {
	// Summary is the one line `<program> help` prints.
	Summary string
	// Run runs the command until it is done or ctx ends.
	Run func(ctx context.Context, args []string) error
}

// Program is a binary made of subcommands.
type Program struct {
	// Name is the binary's name in messages.
	Name string
	// Version is the binary's version as stamped at build time
	// (-X main.version); empty falls back to the module's build info.
	Version string
	// Commands are the subcommands; Main adds `version`.
	Commands map[string]Command
	// UsageErrors are sentinels that mark an error in the command line
	// itself: such an error exits 2, as an unknown command does.
	UsageErrors []error
}

// Exit runs the process: Main on os.Args with the standard streams, until
// SIGINT or SIGTERM ends its context, then exits with Main's code.
func (p Program) Exit() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := p.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs the subcommand args name and returns the process's exit
// code: 0, 1 for a failure, 2 for a bad command line.
func (p Program) Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := make(map[string]Command, len(p.Commands)+1)
	for name, c := range p.Commands {
		cmds[name] = c
	}
	cmds["version"] = Command{"print the version", func(context.Context, []string) error {
		fmt.Fprintf(stdout, "%s %s (%s)\n", p.Name, BuildVersion(p.Version), runtime.Version())
		return nil
	}}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		p.usage(stderr, cmds)
		return 2
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n\n", p.Name, args[0])
		p.usage(stderr, cmds)
		return 2
	}
	switch err := c.Run(ctx, args[1:]); {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		// -h printed the flags; asking for help is not a failure.
	case p.isUsage(err):
		fmt.Fprintf(stderr, "%s %s: %v\n", p.Name, args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "%s %s: %v\n", p.Name, args[0], err)
		return 1
	}
	return 0
}

func (p Program) isUsage(err error) bool {
	for _, u := range p.UsageErrors {
		if errors.Is(err, u) {
			return true
		}
	}
	return false
}

func (p Program) usage(w io.Writer, cmds map[string]Command) {
	fmt.Fprintf(w, "usage: %s <command> [flags]\n\ncommands:\n", p.Name)
	names := make([]string, 0, len(cmds))
	for name := range cmds {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, cmds[name].Summary)
	}
	fmt.Fprintf(w, "\nrun '%s <command> -h' for its flags\n", p.Name)
}

// BuildVersion is stamped if set, else the module version of the build
// info, else "dev".
func BuildVersion(stamped string) string {
	if stamped != "" {
		return stamped
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// NewLogger returns a logger writing format ("json" or "text") to w, as
// every command of the project logs.
func NewLogger(w io.Writer, format string) *slog.Logger {
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// AgentBinary is the file name of the agent-only binary
// (cmd/secret-injector-agent). secret-injector runs the agent's commands
// by executing it from its own directory, as `make build` and the image
// place them.
const AgentBinary = "secret-injector-agent"

// AgentCommands are the agent binary's commands and their summaries, for
// both binaries' usage.
var AgentCommands = map[string]string{
	"agent": "run the agent: --mode init (fill the volume, then exit) or --mode sidecar (keep it fresh)",
	"fetch": "fetch every secret once into .secrets/ for inspection (local development)",
	"exec":  "env mode's wrapper in an app container: run the app with the secrets in its environment, restart or signal it when they change",
}
