package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tradepulse/secret-injector/internal/testkit"
)

// Proc is a child process under measurement. Its output is kept in memory
// (up to 1 MiB) for error reports only (the programs measured never print
// secret values).
type Proc struct {
	Cmd   *exec.Cmd
	Start time.Time
	p     *testkit.Process
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
	p, err := testkit.Start(filepath.Base(name), cmd, &testkit.Buffer{Limit: 1 << 20})
	if err != nil {
		return nil, err
	}
	return &Proc{Cmd: cmd, Start: p.Started, p: p}, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Output is what the process printed so far.
func (p *Proc) Output() string { return p.p.Output() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	done, _ := p.p.Exited()
	return done
}

// Wait waits for the process to exit, at most d, and returns its error.
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.p.Done():
		_, err := p.p.Exited()
		return err
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
func (p *Proc) Stop(grace time.Duration) { p.p.Stop(grace) }

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
		if done, exitErr := p.p.Exited(); done {
			// One last look: an init process may exit right after writing.
			for _, f := range pending {
				if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
					return 0, fmt.Errorf("process exited (%v) before writing %s:\n%s", exitErr, filepath.Base(f), tail(p.Output()))
				}
			}
			return time.Since(p.Start), nil
		}
		select {
		case <-p.p.Done():
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
