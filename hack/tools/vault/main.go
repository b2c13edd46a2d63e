// Command vault is HashiCorp Vault's CLI and server, built from the module
// proxy for the test bed only (Vault is under the BSL: never ship it). It
// mirrors github.com/hashicorp/vault's own main.go.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
