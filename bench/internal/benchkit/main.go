package benchkit

import (
	"flag"
	"fmt"
	"os"
)

// AgentBinFlag declares --bin: the agent binary a bench program runs.
func AgentBinFlag() *string {
	return flag.String("bin", "bin/secret-injector-agent", "our agent binary")
}

// OutFlag declares --out: the file a bench program writes its raw figures
// to, .bench/<file> by default (where bench/run.sh collects them).
func OutFlag(file string) *string {
	return flag.String("out", ".bench/"+file, "raw figures (JSON)")
}

// Main is what a bench program's main does once its flags are declared:
// parse them and run; on an error, print it after the program's name on
// stderr (stdout holds only figures) and exit 1.
func Main(name string, run func() error) {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
