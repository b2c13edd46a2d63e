// Package cli is the small frame every binary of the project is built on:
// subcommands with kubectl-style flags (spf13/cobra and pflag, the
// libraries kubectl itself is built on), `version`, `completion` and
// `help`, exit codes, and the loggers. It imports nothing of the project
// but internal/buildinfo, so that secret-injector-agent (the agent alone)
// and secret-injector (the webhook and the operator commands) share it
// without linking each other's dependencies.
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
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes of every command (docs/cli.md).
const (
	// ExitOK: the command did what was asked.
	ExitOK = 0
	// ExitFailure: the command ran and found a problem, or could not do
	// what was asked (a secret not ok, an agent unreachable, a failed
	// start).
	ExitFailure = 1
	// ExitUsage: the command line is wrong (unknown command or flag, a
	// bad flag value); nothing was done.
	ExitUsage = 2
)

// ErrUsage is matched by errors about the command line itself (a flag's
// value, an argument), as opposed to errors from doing the work: they exit
// ExitUsage with a pointer to --help.
var ErrUsage = errors.New("usage")

// usageError is err, matching ErrUsage without changing its message.
type usageError struct{ err error }

func (e usageError) Error() string        { return e.err.Error() }
func (e usageError) Unwrap() error        { return e.err }
func (e usageError) Is(target error) bool { return target == ErrUsage }

// Usage marks err as a command-line error (nil stays nil).
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// RunFunc runs a command with the positional arguments left after its
// flags, until it is done or ctx ends.
type RunFunc func(ctx context.Context, args []string) error

// Command is one subcommand.
type Command struct {
	// Summary is the one line the program's help lists.
	Summary string
	// Long is the command's own help text; "" repeats Summary.
	Long string
	// Args is the synopsis of the positional arguments, e.g. "[POD...]";
	// "" means the command takes none, and one given is a usage error.
	Args string
	// Setup declares the command's flags on fs and returns the function
	// that runs it once they are parsed. The frame parses them, so that
	// every command takes the same spellings (--name value, --name=value,
	// the short forms a command declares), rejects an unknown flag the
	// same way, and lists its flags in --help and shell completion.
	Setup func(fs *pflag.FlagSet) RunFunc
	// Run, for a command without Setup, gets its arguments exactly as
	// given and parses them itself (help and completion then know none of
	// its flags). secret-injector's agent commands are so: it hands them
	// to secret-injector-agent, which parses them.
	Run RunFunc
}

// Program is a binary made of subcommands.
type Program struct {
	// Name is the binary's name in messages.
	Name string
	// Summary is the binary's one-line description in its help.
	Summary string
	// Commands are the subcommands; Main adds version, completion and
	// help.
	Commands map[string]Command
	// UsageErrors are more sentinels that mark an error in the command
	// line itself, besides ErrUsage.
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

// Main runs the subcommand args name and returns the process's exit code
// (ExitOK, ExitFailure or ExitUsage). Help goes to stdout and exits 0; a
// bad command line is named on stderr with a pointer to --help.
func (p Program) Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := p.root(stdout, stderr)
	// cobra reads os.Args when given nil.
	root.SetArgs(append([]string{}, args...))
	cmd, err := root.ExecuteContextC(withStreams(ctx, stdout, stderr))
	if cmd == nil {
		cmd = root
	}
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		// A command parsing its own flags printed its help for -h.
		return ExitOK
	case p.isUsage(err):
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", cmd.CommandPath(), err, cmd.CommandPath())
		return ExitUsage
	default:
		fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
		return ExitFailure
	}
}

func (p Program) isUsage(err error) bool {
	if errors.Is(err, ErrUsage) {
		return true
	}
	for _, u := range p.UsageErrors {
		if errors.Is(err, u) {
			return true
		}
	}
	return false
}

// root builds the command tree afresh for one Main: a command's flags
// are bound to variables its Setup makes.
func (p Program) root(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   p.Name,
		Short: p.Summary,
		Long:  p.Summary,
		// Main prints errors, and the usage hint, itself.
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		// "did you mean" within two edits, as kubectl.
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return Usage(errors.New("a command is required"))
			}
			msg := fmt.Sprintf("unknown command %q", args[0])
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return Usage(errors.New(msg))
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return Usage(err) })
	for name, c := range p.Commands {
		root.AddCommand(subcommand(name, c))
	}
	root.AddCommand(subcommand("version", versionCommand(p.Name)))
	return root
}

func subcommand(name string, c Command) *cobra.Command {
	cc := &cobra.Command{
		Use:   strings.TrimSpace(name + " " + c.Args),
		Short: c.Summary,
		Long:  c.Long,
	}
	if cc.Long == "" {
		cc.Long = c.Summary
	}
	if c.Setup == nil {
		cc.DisableFlagParsing = true
		cc.RunE = func(cmd *cobra.Command, args []string) error { return c.Run(cmd.Context(), args) }
		return cc
	}
	cc.Flags().SortFlags = false
	run := c.Setup(cc.Flags())
	// Shell completion offers an enumerated flag's words.
	cc.Flags().VisitAll(func(f *pflag.Flag) {
		if e, ok := f.Value.(*enumValue); ok {
			_ = cc.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(e.words, cobra.ShellCompDirectiveNoFileComp))
		}
	})
	if c.Args == "" {
		cc.Args = func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return Usage(fmt.Errorf("unexpected argument %q: %s takes flags only", args[0], name))
			}
			return nil
		}
	}
	cc.RunE = func(cmd *cobra.Command, args []string) error { return run(cmd.Context(), args) }
	return cc
}

// NewLogger returns an info-level logger writing format ("json" or
// "text") to w, as every command of the project logs by default.
func NewLogger(w io.Writer, format string) *slog.Logger {
	return LogOptions{Level: "info", Format: format}.Logger(w)
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
	"wait":  "return once the agent in this container is ready (the native sidecar's postStart hook); fail with the reason after its initTimeout",
	"exec":  "env mode's wrapper in an app container: run the app with the secrets in its environment, restart or signal it when they change",
}
