//go:build unix

package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/tradepulse/secret-injector/agent/config"
)

// signals maps config.Signals names to their numbers.
var signals = map[string]syscall.Signal{
	"SIGHUP":  syscall.SIGHUP,
	"SIGUSR1": syscall.SIGUSR1,
	"SIGUSR2": syscall.SIGUSR2,
	"SIGTERM": syscall.SIGTERM,
	"SIGINT":  syscall.SIGINT,
}

// signalNotifier sends a signal to every process with a given name. In a
// pod that needs shareProcessNamespace: the agent sees the app's processes
// only then.
type signalNotifier struct {
	name    string // e.g. "SIGHUP"
	sig     syscall.Signal
	process string
	log     *slog.Logger
	record  func(kind, result string)

	// procRoot, self and kill are the process table, the agent's own pid
	// (never signalled) and the way signals are sent; tests replace them.
	procRoot string
	self     int
	kill     func(pid int, sig syscall.Signal) error
}

func newSignal(cfg config.Notify, log *slog.Logger, record func(kind, result string)) (*signalNotifier, error) {
	sig, ok := signals[cfg.Signal]
	if !ok {
		return nil, fmt.Errorf("notify.signal: %q is not one of SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT", cfg.Signal)
	}
	if cfg.Process == "" {
		return nil, errors.New("notify.process: required with notify.signal")
	}
	return &signalNotifier{
		name:     cfg.Signal,
		sig:      sig,
		process:  cfg.Process,
		log:      log,
		record:   record,
		procRoot: "/proc",
		self:     os.Getpid(),
		kill:     syscall.Kill,
	}, nil
}

// Notify signals every matching process. It fails when none is found or
// one could not be signalled.
func (n *signalNotifier) Notify(ctx context.Context) error {
	err := n.notify(ctx)
	if err != nil {
		n.record(KindSignal, ResultError)
		return err
	}
	n.record(KindSignal, ResultOK)
	return nil
}

func (n *signalNotifier) notify(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	pids, err := n.find()
	if err != nil {
		return err
	}
	var sent []int
	var errs []error
	for _, pid := range pids {
		err := n.kill(pid, n.sig)
		switch {
		case err == nil:
			sent = append(sent, pid)
		case errors.Is(err, syscall.ESRCH):
			// Exited since the scan: nothing left to tell.
		case errors.Is(err, syscall.EPERM):
			errs = append(errs, fmt.Errorf("%s to %s (pid %d): %w; the agent must run as the app's user or have CAP_KILL", n.name, n.process, pid, err))
		default:
			errs = append(errs, fmt.Errorf("%s to %s (pid %d): %w", n.name, n.process, pid, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("notify: %w", errors.Join(errs...))
	}
	if len(sent) == 0 {
		return n.notFound()
	}
	n.log.Info("signalled app", "signal", n.name, "process", n.process, "pids", sent)
	return nil
}

func (n *signalNotifier) notFound() error {
	return fmt.Errorf("notify: no process named %q is visible to the agent; set shareProcessNamespace: true on the pod so the agent can see the app's processes", n.process)
}

// find lists the pids of processes named n.process, other than the agent.
// The name is the kernel's comm (cut to 15 bytes) or, for longer names and
// interpreters' children, the base name of argv[0].
func (n *signalNotifier) find() ([]int, error) {
	entries, err := os.ReadDir(n.procRoot)
	if err != nil {
		return nil, fmt.Errorf("notify: list processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 || pid == n.self {
			continue
		}
		if n.matches(filepath.Join(n.procRoot, e.Name())) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// matches reads one process's names; a process that exits meanwhile simply
// does not match.
func (n *signalNotifier) matches(dir string) bool {
	if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		if strings.TrimSuffix(string(comm), "\n") == n.process {
			return true
		}
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil || len(cmdline) == 0 {
		return false
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return argv0 != "" && filepath.Base(argv0) == n.process
}
