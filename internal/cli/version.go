package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/tradepulse/secret-injector/internal/buildinfo"
)

// versionCommand prints the build info of the binary name.
func versionCommand(name string) Command {
	return Command{
		Summary: "print the version, commit, build date and Go version",
		Setup: func(fs *pflag.FlagSet) RunFunc {
			var output string
			OutputVar(fs, &output, "text", "json", "yaml")
			return func(ctx context.Context, _ []string) error {
				return WriteVersion(Stdout(ctx), name, output, buildinfo.Get())
			}
		},
	}
}

// WriteVersion writes i as text ("<name> <version> (commit ..., built
// ..., <go> <platform>)"), json or yaml.
func WriteVersion(w io.Writer, name, format string, i buildinfo.Info) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(i)
	case "yaml":
		out, err := yaml.Marshal(i)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	_, err := fmt.Fprintf(w, "%s %s (commit %s, built %s, %s %s)\n", name, i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
	return err
}
