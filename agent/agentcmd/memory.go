package agentcmd

import (
	"context"
	"os"
	"runtime/debug"
	"time"
)

// steadyGCPercent is the sidecar's garbage-collection target (GOGC) once
// its first pass is done, unless the environment sets GOGC: the heap may
// grow to 1.25× what is live rather than 2×. From then on the agent
// allocates little (a renewal, a version check now and then), so
// collecting more often costs next to nothing, while with 1,000 leases it
// keeps ~8 MiB of heap off the pod's memory (docs/performance.md). The
// first pass runs with the default target: it is the agent's one burst of
// allocation, and more collections would delay the first secret.
const steadyGCPercent = 25

// settleAfterFirstPass waits until ready reports true (polling, cheaply),
// then lowers the GC target and returns the first pass's garbage to the
// operating system at once rather than as the runtime's scavenger would,
// over minutes. It returns when done or when ctx ends.
func settleAfterFirstPass(ctx context.Context, ready func() bool) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !ready() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(steadyGCPercent)
	}
	debug.FreeOSMemory()
}
