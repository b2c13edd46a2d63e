package benchkit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process under measurement. Its output is kept in memory
// for error reports only (the programs measured never print secret values).
type Proc struct {
	Cmd   *exec.Cmd
	Start time.Time
	out   *syncBuffer
	done  chan struct{}
	err   error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// StartProc starts name with args in dir, with env added to the current
// environment less VAULT_TOKEN and VAULT_ADDR: a measured agent
// authenticates itself, and talks to the address its config names (vault
// agent would let VAULT_ADDR override it).
func StartProc(dir string, env []string, name string, args ...string) (*Proc, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_TOKEN=") && !strings.HasPrefix(kv, "VAULT_ADDR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &Proc{Cmd: cmd, out: out, done: make(chan struct{})}
	p.Start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Output is what the process printed so far.
func (p *Proc) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit, at most d, and returns its error.
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("still running after %s", d)
	}
}

// MaxRSSKiB is the peak RSS of an exited process.
func (p *Proc) MaxRSSKiB() int {
	if p.Cmd.ProcessState == nil {
		return 0
	}
	if ru, ok := p.Cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return int(ru.Maxrss)
	}
	return 0
}

// Stop sends SIGTERM, then SIGKILL after grace, and waits.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// WaitFiles polls until every file exists and is non-empty, and returns
// the time since the process started. It fails if the process exits with
// an error first or ctx ends.
func (p *Proc) WaitFiles(ctx context.Context, files []string) (time.Duration, error) {
	pending := append([]string(nil), files...)
	for {
		for len(pending) > 0 {
			if fi, err := os.Stat(pending[0]); err == nil && fi.Size() > 0 {
				pending = pending[1:]
				continue
			}
			break
		}
		if len(pending) == 0 {
			return time.Since(p.Start), nil
		}
		if p.Exited() {
			// One last look: an init process may exit right after writing.
			for _, f := range pending {
				if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
					return 0, fmt.Errorf("process exited (%v) before writing %s:\n%s", p.err, filepath.Base(f), tail(p.Output()))
				}
			}
			return time.Since(p.Start), nil
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return 0, fmt.Errorf("%s not written: %w\n%s", filepath.Base(pending[0]), ctx.Err(), tail(p.Output()))
		case <-time.After(time.Millisecond):
		}
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}

// Tail is the end of a process's output, for error reports.
func (p *Proc) Tail() string { return tail(p.Output()) }
