package main

import (
	"context"
	"os"

	"github.com/tradepulse/secret-injector/ctl"
)

// ctlCommand runs one of the operator verbs (status, refresh, revoke)
// across the injected pods it selects.
func ctlCommand(verb string) func(ctx context.Context, args []string) error {
	return func(ctx context.Context, args []string) error {
		return ctl.Main(ctx, verb, args, os.Stdout, os.Stderr)
	}
}
