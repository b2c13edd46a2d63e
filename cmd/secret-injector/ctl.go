package main

import (
	"github.com/tradepulse/secret-injector/ctl"
	"github.com/tradepulse/secret-injector/internal/cli"
)

// ctlCommand is one of the operator verbs (status, refresh, revoke), run
// across the injected pods it selects.
func ctlCommand(verb string) cli.Command { return ctl.CLICommand(verb) }
