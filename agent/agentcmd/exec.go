package agentcmd

import (
	"context"
	"os"

	"github.com/tradepulse/secret-injector/agent/envexec"
)

// runExec is the exec command, env mode's wrapper (package envexec). It
// exits the process itself, with the app's exit code, which an error
// return could not carry.
func runExec(_ context.Context, args []string) error {
	os.Exit(envexec.Main(args, os.Stderr))
	return nil
}

// installExec copies the agent binary for env mode's wrapper, where the
// --install-exec flag says (the init container's, in a volume the app
// mounts); "" does nothing.
func installExec(path string) error {
	if path == "" {
		return nil
	}
	return envexec.Install(path)
}
