package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tradepulse/secret-injector/injector"
	"github.com/tradepulse/secret-injector/internal/cli"
)

// ErrUsage is matched by errors about the command line itself (a flag, an
// argument), as opposed to errors from the cluster. It is the frame's
// cli.ErrUsage: such errors exit 2.
var ErrUsage = cli.ErrUsage

// Output formats (-o).
const (
	OutputTable = "table"
	// OutputWide is the table with more columns, as kubectl's -o wide.
	OutputWide = "wide"
	OutputJSON = "json"
	OutputYAML = "yaml"
)

// outputs are the -o values, the default first.
var outputs = []string{OutputTable, OutputWide, OutputJSON, OutputYAML}

// Defaults of the flags.
const (
	DefaultTimeout     = time.Minute
	DefaultConcurrency = 10
)

// Options are one command's flags, with kubectl's names.
type Options struct {
	Kubeconfig    string
	Context       string
	Namespace     string
	AllNamespaces bool
	Selector      string
	// Pods are names given as arguments, in Namespace.
	Pods   []string
	Secret string
	Output string
	DryRun bool
	// Timeout bounds the work on each pod: dialing, the request and, for
	// revoke, waiting for fresh credentials.
	Timeout     time.Duration
	Concurrency int
	// Log sets the logger of the port-forwards (warnings by default).
	Log cli.LogOptions
}

// verbHelp is each command's one-line description, for -h.
var verbHelp = map[string]string{
	"status":  "show each selected agent's secrets: ok, version, last success, lease expiry (never values)",
	"refresh": "fetch every (or --secret) secret now in each selected agent; restart the workloads of pods that cannot reload (annotation " + injector.AnnotationReload + ": " + injector.ReloadRestart + ")",
	"revoke":  "revoke the Vault leases of each selected agent and wait until each reports fresh credentials",
}

// CLICommand is the operator command verb (status, refresh or revoke) for
// the program's frame, writing to the streams the frame gives.
func CLICommand(verb string) cli.Command {
	return cli.Command{
		Summary: verbHelp[verb],
		Long:    longHelp(verb),
		Args:    "[POD...]",
		Setup: func(fs *pflag.FlagSet) cli.RunFunc {
			o := defaultOptions()
			o.AddFlags(fs)
			return func(ctx context.Context, pods []string) error {
				o.Pods = pods
				if err := o.validate(); err != nil {
					return err
				}
				return (&Command{Stdout: cli.Stdout(ctx), Stderr: cli.Stderr(ctx)}).run(ctx, verb, *o)
			}
		},
	}
}

func longHelp(verb string) string {
	return fmt.Sprintf("%s.\nOnly pods annotated %s are selected.\nExit status: 0 when every selected pod is ok, 1 when any failed, 2 for a bad command line.",
		verbHelp[verb], injectedAnnotation)
}

func defaultOptions() *Options {
	return &Options{Output: OutputTable, Timeout: DefaultTimeout, Concurrency: DefaultConcurrency, Log: cli.LogOptions{Level: "warn", Format: "text"}}
}

// AddFlags declares the commands' flags on fs, bound to o.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.SortFlags = false
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&o.Context, "context", "", "the kubeconfig context to use")
	fs.StringVarP(&o.Namespace, "namespace", "n", "", "namespace of the pods (default: the context's)")
	fs.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "select pods in every namespace")
	fs.StringVarP(&o.Selector, "selector", "l", "", "label selector, e.g. app=api,tier!=batch")
	fs.StringVar(&o.Secret, "secret", "", "only this secret (its file name), in every selected pod")
	cli.OutputVar(fs, &o.Output, outputs...)
	fs.Var((*dryRunValue)(&o.DryRun), "dry-run", "print what would be done and change nothing (kubectl's --dry-run=client)")
	fs.Lookup("dry-run").NoOptDefVal = "client"
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "how long to work on each pod, including waiting for fresh credentials (revoke)")
	fs.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "how many pods to work on at once")
	cli.EnumVarP(fs, &o.Log.Level, "log-level", "", o.Log.Level, cli.LogLevels, "least severe log level written (the port-forwards' logs)")
	cli.EnumVarP(fs, &o.Log.Format, "log-format", "", o.Log.Format, cli.LogFormats, "log format")
}

// ParseOptions parses a command's arguments as the frame does. -h returns
// flag.ErrHelp after printing the help to stderr.
func ParseOptions(verb string, args []string, stderr io.Writer) (Options, error) {
	o := defaultOptions()
	fs := pflag.NewFlagSet(verb, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: secret-injector %s [POD...] [flags]\n\n%s\n\nflags:\n%s", verb, longHelp(verb), fs.FlagUsages())
	}
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return *o, flag.ErrHelp
		}
		return *o, cli.Usage(err)
	}
	if len(fs.Args()) > 0 {
		o.Pods = fs.Args()
	}
	return *o, o.validate()
}

func (o Options) validate() error {
	var errs []string
	if o.Concurrency < 1 {
		errs = append(errs, fmt.Sprintf("--concurrency %d: want at least 1", o.Concurrency))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Sprintf("--timeout %s: want a positive duration", o.Timeout))
	}
	if _, err := labels.Parse(o.Selector); err != nil {
		errs = append(errs, fmt.Sprintf("--selector %q: %v", o.Selector, err))
	}
	if len(o.Pods) > 0 && o.Selector != "" {
		errs = append(errs, "give pod names or --selector, not both")
	}
	if len(o.Pods) > 0 && o.AllNamespaces {
		errs = append(errs, "pod names need one namespace; drop --all-namespaces")
	}
	if len(errs) > 0 {
		return cli.Usage(errors.New(strings.Join(errs, "; ")))
	}
	return nil
}

// dryRunValue takes kubectl's spellings: --dry-run, --dry-run=client,
// --dry-run=none, and true/false.
type dryRunValue bool

func (d *dryRunValue) String() string {
	if *d {
		return "client"
	}
	// pflag omits a default of "false" from the help.
	return "false"
}

func (d *dryRunValue) Set(s string) error {
	switch s {
	case "client", "true":
		*d = true
	case "none", "false":
		*d = false
	case "server":
		return errors.New(`"server" is not supported; --dry-run=client reads what it needs and changes nothing`)
	default:
		return fmt.Errorf("%q: want client or none", s)
	}
	return nil
}

func (d *dryRunValue) Type() string { return "" }
