// Package proc runs the e2e suite's local processes (the webhook, the
// agents) and keeps their output for the logs printed when a test fails.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is one started command whose stdout and stderr are captured.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *buffer
	done chan struct{}
	err  error
}

// Start starts path with args in dir with exactly env (nothing of the
// caller's environment leaks in). name labels its logs.
func Start(name, path string, args, env []string, dir string) (*Process, error) {
	p := &Process{Name: name, out: &buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = env
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// A process group of its own, so that a stop reaches its children and
	// a Ctrl-C in the terminal reaches only the suite, which stops it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Out of the terminal's process group, a process would outlive a test
	// binary killed by -timeout: have the kernel kill it with its parent.
	dieWithParent(p.cmd.SysProcAttr)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

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
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
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

// buffer is a bytes.Buffer safe for the writer goroutines and readers.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
