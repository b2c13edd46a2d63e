// Package envexec is the agent's exec command: the small wrapper that env
// mode (injector annotation env-mode) puts in front of an app's command,
// for apps that read their secrets only from their environment.
//
// The wrapper reads the secrets the agent rendered into the shared volume,
// starts the app with them added to its environment, and stays as its
// parent: it forwards the signals it receives to the app, reaps the app and
// any orphaned process (it runs as the container's PID 1), and exits with
// the app's exit code. A process's environment is fixed once it starts, so
// when the files change (the sidecar rotated a secret) the wrapper either
// signals the app, which must then re-read its files, or restarts it with
// the new values: SIGTERM, a grace period, SIGKILL, and a new start.
//
// Values exist only in the files, the wrapper's memory and the app's
// environment: never in the pod spec (the command names variables and
// files), a log line or an error.
package envexec

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/internal/cli"
)

// Var is one variable whose value is a whole file: a secret of format raw
// or template.
type Var struct {
	// Name is the variable, [A-Za-z_][A-Za-z0-9_]*.
	Name string
	// File is the secret's file, relative to Options.Dir.
	File string
}

// Reload kinds: what the wrapper does when the secrets change.
const (
	// ReloadRestart stops the app (SIGTERM, then SIGKILL after the grace)
	// and starts it again with the new environment.
	ReloadRestart = "restart"
	// ReloadSignal sends the app a signal; its environment stays as it
	// was, so the app must re-read the files it needs.
	ReloadSignal = "signal"
	// ReloadNone leaves the app alone.
	ReloadNone = "none"
)

// Options are what the wrapper is told on its command line.
type Options struct {
	// Dir is the secrets volume's mount path.
	Dir string
	// Vars are the variables that are each one file.
	Vars []Var
	// EnvFiles are files of KEY=value lines (secrets of format env), each
	// relative to Dir; every line becomes a variable. Vars win over them.
	EnvFiles []string
	// Reload is ReloadRestart, ReloadNone or ReloadSignal, with Signal.
	Reload string
	// Signal is the signal's name for ReloadSignal, one of config.Signals.
	Signal string
	// Grace is how long a restart waits for the app to stop after
	// SIGTERM before it kills it.
	Grace time.Duration
	// Poll is how often the files are read in case a change raised no
	// file event; Debounce is the quiet after an event before they are.
	Poll, Debounce time.Duration
	// Command is the app's command and arguments.
	Command []string
	// Log receives the wrapper's lines: names of variables and files,
	// never a value.
	Log *slog.Logger
}

// Defaults of the command's flags.
const (
	DefaultGrace    = 30 * time.Second
	DefaultPoll     = 10 * time.Second
	DefaultDebounce = 500 * time.Millisecond
)

// Bounds of what the command line may ask for: the wrapper runs inside
// the app's container, on its memory.
const (
	maxVars      = 256
	maxValueSize = 1 << 20
)

// Main is the exec command: it parses args (flags, "--", the app's command)
// and runs the app, and returns the exit code the process should exit
// with — the app's, 2 for a bad command line, 126/127 when the app's
// command cannot be run (as shells do), 1 when the secrets cannot be read.
func Main(args []string, stderr io.Writer) int {
	o, err := Parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s exec: %v\n", cli.AgentBinary, err)
		return 2
	}
	return Run(o)
}

// Parse reads the exec command's command line:
//
//	exec --dir /secrets --var API_KEY=api-key --env-file app.env \
//	     --reload restart --grace 30s -- /app/server --port 8080
func Parse(args []string, stderr io.Writer) (Options, error) {
	o := Options{Poll: DefaultPoll, Debounce: DefaultDebounce}
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var logFormat, reload string
	fs.StringVar(&o.Dir, "dir", config.DefaultMountPath, "the secrets volume's mount path")
	fs.Func("var", "NAME=FILE: set variable NAME to the content of FILE (relative to --dir); repeatable", func(v string) error {
		name, file, ok := strings.Cut(v, "=")
		if !ok || !config.ValidEnvName(name) {
			return fmt.Errorf("%q: want NAME=FILE with NAME a variable name ([A-Za-z_][A-Za-z0-9_]*)", v)
		}
		if err := config.ValidatePath(file); err != nil {
			return fmt.Errorf("%q: file %v", v, err)
		}
		o.Vars = append(o.Vars, Var{Name: name, File: file})
		return nil
	})
	fs.Func("env-file", "FILE of KEY=value lines (relative to --dir) whose variables are set; repeatable", func(v string) error {
		if err := config.ValidatePath(v); err != nil {
			return fmt.Errorf("%q: %v", v, err)
		}
		o.EnvFiles = append(o.EnvFiles, v)
		return nil
	})
	fs.StringVar(&reload, "reload", ReloadRestart, "on a change of the files: restart (SIGTERM, grace, start again with the new values), signal:<SIGNAL> (the app re-reads its files) or none")
	fs.DurationVar(&o.Grace, "grace", DefaultGrace, "restart: how long the app may take to stop after SIGTERM before it is killed")
	fs.DurationVar(&o.Poll, "poll", DefaultPoll, "how often the files are read in case a change raised no file event")
	fs.StringVar(&logFormat, "log-format", "json", "json or text")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.Command = fs.Args()
	if i := len(args) - len(o.Command); i == 0 || args[i-1] != "--" {
		return o, errors.New(`the app's command must follow "--"`)
	}
	if len(o.Command) == 0 || o.Command[0] == "" {
		return o, errors.New(`no command after "--"`)
	}
	switch kind, sig, _ := strings.Cut(reload, ":"); {
	case reload == ReloadRestart || reload == ReloadNone:
		o.Reload = reload
	case kind == ReloadSignal:
		if err := config.ValidateSignal(sig); err != nil {
			return o, fmt.Errorf("--reload %q: signal %w", reload, err)
		}
		o.Reload, o.Signal = ReloadSignal, sig
	default:
		return o, fmt.Errorf("--reload %q: want restart, signal:<SIGNAL> or none", reload)
	}
	if o.Grace <= 0 || o.Poll <= 0 {
		return o, errors.New("--grace and --poll must be positive")
	}
	if len(o.Vars)+len(o.EnvFiles) > maxVars {
		return o, fmt.Errorf("%d --var and --env-file flags, over %d", len(o.Vars)+len(o.EnvFiles), maxVars)
	}
	names := map[string]bool{}
	for _, v := range o.Vars {
		if names[v.Name] {
			return o, fmt.Errorf("--var %s is given twice", v.Name)
		}
		names[v.Name] = true
	}
	if logFormat != "json" && logFormat != "text" {
		return o, fmt.Errorf("--log-format %q: want json or text", logFormat)
	}
	o.Log = cli.NewLogger(stderr, logFormat).With("component", "exec")
	return o, nil
}
