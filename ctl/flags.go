package ctl

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tradepulse/secret-injector/injector"
)

// ErrUsage is matched by errors about the command line itself (a flag, an
// argument), as opposed to errors from the cluster.
var ErrUsage = errors.New("usage")

// Output formats.
const (
	OutputTable = "table"
	OutputJSON  = "json"
)

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
}

// verbHelp is each command's one-line description, for -h.
var verbHelp = map[string]string{
	"status":  "show each selected agent's secrets: ok, version, last success, lease expiry (never values)",
	"refresh": "fetch every (or --secret) secret now in each selected agent; restart the workloads of pods that cannot reload (annotation " + injector.AnnotationReload + ": " + injector.ReloadRestart + ")",
	"revoke":  "revoke the Vault leases of each selected agent and wait until each reports fresh credentials",
}

// ParseOptions parses a command's arguments. -h returns flag.ErrHelp after
// printing the help to stderr.
func ParseOptions(verb string, args []string, stderr io.Writer) (Options, error) {
	o := Options{Output: OutputTable, Timeout: DefaultTimeout, Concurrency: DefaultConcurrency}
	fs := pflag.NewFlagSet(verb, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: secret-injector %s [POD...] [flags]\n\n%s.\nOnly pods annotated %s are selected.\n\nflags:\n%s",
			verb, verbHelp[verb], injectedAnnotation, fs.FlagUsages())
	}
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&o.Context, "context", "", "the kubeconfig context to use")
	fs.StringVarP(&o.Namespace, "namespace", "n", "", "namespace of the pods (default: the context's)")
	fs.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "select pods in every namespace")
	fs.StringVarP(&o.Selector, "selector", "l", "", "label selector, e.g. app=api,tier!=batch")
	fs.StringVar(&o.Secret, "secret", "", "only this secret (its file name), in every selected pod")
	fs.StringVarP(&o.Output, "output", "o", OutputTable, "output format: table or json")
	fs.Var((*dryRunValue)(&o.DryRun), "dry-run", "print what would be done and change nothing (kubectl's --dry-run=client)")
	fs.Lookup("dry-run").NoOptDefVal = "client"
	fs.DurationVar(&o.Timeout, "timeout", DefaultTimeout, "how long to work on each pod, including waiting for fresh credentials (revoke)")
	fs.IntVar(&o.Concurrency, "concurrency", DefaultConcurrency, "how many pods to work on at once")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return o, flag.ErrHelp
		}
		return o, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if len(fs.Args()) > 0 {
		o.Pods = fs.Args()
	}
	return o, o.validate()
}

func (o Options) validate() error {
	var errs []string
	switch o.Output {
	case OutputTable, OutputJSON:
	default:
		errs = append(errs, fmt.Sprintf("--output %q: want table or json", o.Output))
	}
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
		return fmt.Errorf("%w: %s", ErrUsage, strings.Join(errs, "; "))
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
