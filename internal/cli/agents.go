package cli

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
}
