//go:build unix

package envexec

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// forwarded are the signals passed on to the app. SIGCHLD is the
// wrapper's own (reaping) and SIGURG the Go runtime's; SIGKILL and SIGSTOP
// cannot be caught.
var forwarded = []os.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH,
}

// Run starts the app and supervises it until it exits for good, and
// returns the exit code to exit with: the app's (128+n when a signal n
// ended it), or 126/127 when its command cannot be run, 1 when its
// secrets cannot be read. It handles the process's signals itself.
func Run(o Options) int {
	s := &supervisor{o: &o}
	return s.run()
}

// supervisor is the state of one Run: the app's process, and whether it
// is being restarted or stopped.
type supervisor struct {
	o    *Options
	path string
	// pid is the app's, 0 when none runs.
	pid int
	// current identifies the values the app was started with (restart)
	// or last told of (signal).
	current [32]byte
	// restarting: the wrapper stopped the app to start it again.
	restarting bool
	// stopping: a signal asked the app to end; it is not restarted.
	stopping bool
}

func (s *supervisor) run() int {
	o, log := s.o, s.o.Log
	// Registered before the app starts: no signal and no exit is missed.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwarded...)
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	defer signal.Stop(chld)
	if err := becomeSubreaper(); err != nil {
		log.Warn("cannot become the reaper of the app's orphans", "err", err)
	}

	path, err := exec.LookPath(o.Command[0])
	if err != nil {
		log.Error("cannot find the app's command", "command", o.Command[0], "err", err)
		return 127
	}
	s.path = path
	if code, ok := s.start(); !ok {
		return code
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := make(chan struct{}, 1)
	go watch(ctx, o, changed)

	var kill *time.Timer
	var killC <-chan time.Time
	defer func() {
		if kill != nil {
			kill.Stop()
		}
	}()
	for {
		select {
		case sig := <-sigs:
			n := sig.(syscall.Signal)
			if n == syscall.SIGTERM || n == syscall.SIGINT || n == syscall.SIGQUIT {
				s.stopping = true
			}
			if s.pid != 0 {
				_ = syscall.Kill(s.pid, n)
			}
		case <-chld:
			for {
				ws, pid := reap()
				if pid <= 0 {
					break
				}
				if pid != s.pid {
					continue // an orphan of the app's, adopted and reaped
				}
				s.pid = 0
				if kill != nil {
					kill.Stop()
					killC = nil
				}
				if s.restarting && !s.stopping {
					s.restarting = false
					if code, ok := s.start(); !ok {
						return code
					}
					continue
				}
				code := exitCode(ws)
				log.Info("app exited", "code", code)
				return code
			}
		case <-changed:
			if s.pid == 0 || s.restarting || s.stopping {
				continue
			}
			vals, _, err := o.values()
			if err != nil {
				log.Warn("cannot read the secrets; the app keeps what it has", "err", err)
				continue
			}
			sum := digest(vals)
			if sum == s.current {
				continue
			}
			switch o.Reload {
			case ReloadNone:
				s.current = sum
				log.Info("secrets changed; reload none: the app keeps the environment it started with")
			case ReloadSignal:
				s.current = sum
				log.Info("secrets changed; signalling the app", "signal", o.Signal, "pid", s.pid)
				_ = syscall.Kill(s.pid, unix.SignalNum(o.Signal))
			case ReloadRestart:
				log.Info("secrets changed; restarting the app", "pid", s.pid, "grace", o.Grace)
				s.restarting = true
				_ = syscall.Kill(s.pid, syscall.SIGTERM)
				kill = time.NewTimer(o.Grace)
				killC = kill.C
			}
		case <-killC:
			killC = nil
			if s.pid != 0 {
				log.Warn("the app did not stop within the grace period; killing it", "pid", s.pid, "grace", o.Grace)
				_ = syscall.Kill(s.pid, syscall.SIGKILL)
			}
		}
	}
}

// start reads the secrets and starts the app with them in its
// environment. On failure it returns the exit code and false.
func (s *supervisor) start() (int, bool) {
	o, log := s.o, s.o.Log
	vals, missing, err := o.values()
	if err != nil {
		log.Error("cannot read the secrets for the app's environment", "err", err)
		return 1, false
	}
	for _, f := range missing {
		log.Warn("secret file missing: its variables are not set", "file", f)
	}
	pid, err := syscall.ForkExec(s.path, o.Command, &syscall.ProcAttr{
		Env:   environ(os.Environ(), vals),
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		log.Error("cannot start the app", "command", s.path, "err", err)
		if errors.Is(err, syscall.ENOENT) {
			return 127, false
		}
		return 126, false
	}
	s.pid, s.current = pid, digest(vals)
	log.Info("app started", "pid", pid, "command", s.path, "variables", sortedNames(vals))
	return 0, true
}

// reap collects one exited child without waiting, or returns pid 0.
func reap() (syscall.WaitStatus, int) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return 0, 0
		}
		return ws, pid
	}
}

// exitCode is a shell's: the exit status, or 128+n for signal n.
func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
