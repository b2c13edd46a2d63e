// Command pause is the sandbox ("pause") process of the e2e bed's pods, for
// containerd's sandbox_image: it holds the pod's namespaces and does
// nothing else. It runs as PID 1 of the pod, so with shareProcessNamespace
// every orphaned process of the pod becomes its child: it reaps them
// (SIGCHLD, then wait4 until none is left) so that no zombie stays. SIGTERM
// or SIGINT ends it with status 0.
//
// Image: localhost/secret-injector/pause:v1, entrypoint /pause, user
// 65535:65535 (`make test-images`).
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	reap() // children that exited before Notify sent no SIGCHLD we saw
	for s := range sigs {
		if s == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: %v, exiting\n", s)
		os.Exit(0)
	}
}

// reap waits for every child that has exited, without blocking, and
// returns their pids. Signals coalesce, so one SIGCHLD may stand for many.
func reap() []int {
	var pids []int
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 { // ECHILD: no children; 0: none has exited
			return pids
		}
		pids = append(pids, pid)
	}
}
