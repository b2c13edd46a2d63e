package testkit

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// Process is one started command whose stdout and stderr are captured.
type Process struct {
	// Name labels the process in errors and logs.
	Name string
	// Cmd is the started command; its ProcessState is set once Done is
	// closed.
	Cmd *exec.Cmd
	// Started is when the process was started.
	Started time.Time

	out  *Buffer
	done chan struct{}
	err  error
}

// Start starts cmd, with its stdout and stderr written to out (a new
// unbounded Buffer when out is nil; a Buffer of the caller's keeps the
// output of every run of a restarted server). The kernel kills the child
// when the test binary dies (Linux), so that a test killed by -timeout
// leaves nothing behind. When cmd.SysProcAttr asks for a process group of
// its own (Setpgid), Stop and Kill signal the whole group.
func Start(name string, cmd *exec.Cmd, out *Buffer) (*Process, error) {
	if out == nil {
		out = &Buffer{}
	}
	p := &Process{Name: name, Cmd: cmd, out: out, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	dieWithParent(cmd.SysProcAttr)
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// StartGroup starts path with args in dir with exactly env (nothing of the
// caller's environment leaks in), in a process group of its own: a stop
// then reaches its children, and a Ctrl-C in the terminal reaches only the
// test binary, which stops it.
func StartGroup(name, path string, args, env []string, dir string) (*Process, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return Start(name, cmd, nil)
}

// Pid is the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its error if so.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Wait waits for the process to exit or ctx to end.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("%s still running: %w", p.Name, ctx.Err())
	}
}

// Stop sends SIGTERM, waits up to grace, then kills. It is safe to call
// on an exited process and more than once.
func (p *Process) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.signal(syscall.SIGKILL)
	<-p.done
}

func (p *Process) signal(sig syscall.Signal) {
	if a := p.Cmd.SysProcAttr; a != nil && a.Setpgid {
		_ = syscall.Kill(-p.Cmd.Process.Pid, sig)
		return
	}
	_ = p.Cmd.Process.Signal(sig)
}

// ExitCode is the exit status of an exited process, -1 if it was killed
// by a signal or has not exited.
func (p *Process) ExitCode() int {
	select {
	case <-p.done:
	default:
		return -1
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err == nil {
		return 0
	}
	return -1
}

// Output is everything the process wrote so far.
func (p *Process) Output() string { return p.out.String() }
