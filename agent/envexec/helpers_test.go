package envexec_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tradepulse/secret-injector/agent/config"
	"github.com/tradepulse/secret-injector/agent/envexec"
	"github.com/tradepulse/secret-injector/agent/render"
	"github.com/tradepulse/secret-injector/agent/sink"
	"github.com/tradepulse/secret-injector/internal/testkit"
)

// TestMain lets the test binary play three parts, chosen by its first
// argument: the wrapper (envexec.Main, as `secret-injector-agent exec`
// runs it), the app it wraps, and a helper that leaves an orphan. Tests
// run the wrapper as a real process around a real app process.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "envexec-wrapper":
			os.Exit(envexec.Main(os.Args[2:], os.Stderr))
		case "envexec-app":
			os.Exit(testApp(os.Args[2:]))
		case "envexec-orphan":
			// Start a process that outlives this one, then exit: it is
			// adopted by the nearest reaper.
			c := exec.Command(os.Args[0], "envexec-sleep")
			if err := c.Start(); err != nil {
				os.Exit(1)
			}
			fmt.Println(c.Process.Pid)
			os.Exit(0)
		case "envexec-sleep":
			time.Sleep(time.Second)
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

// testApp is the wrapped app. It appends one line per event to the file
// $ENVEXEC_TEST_REPORT: "start <pid> NAME=<sha256 of the value>|unset ..."
// for each name in $ENVEXEC_TEST_VARS, "signal <pid> <signal>" for SIGHUP,
// "term <pid>" for SIGTERM, then exits with $ENVEXEC_TEST_TERM_CODE (or
// ignores it with ENVEXEC_TEST_IGNORE_TERM=1). Arguments: "exit=N" exits
// with N at once; "orphan" leaves an orphan and reports "orphan <pid>".
func testApp(args []string) int {
	report := func(format string, a ...any) {
		f, err := os.OpenFile(os.Getenv("ENVEXEC_TEST_REPORT"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(f, format+"\n", a...)
		f.Close()
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM)
	line := fmt.Sprintf("start %d", os.Getpid())
	for _, name := range strings.Split(os.Getenv("ENVEXEC_TEST_VARS"), ",") {
		v, ok := os.LookupEnv(name)
		if ok {
			line += " " + name + "=" + hash(v)
		} else {
			line += " " + name + "=unset"
		}
	}
	report("%s", line)
	for _, a := range args {
		if n, ok := strings.CutPrefix(a, "exit="); ok {
			code, _ := strconv.Atoi(n)
			return code
		}
		if a == "orphan" {
			out, err := exec.Command(os.Args[0], "envexec-orphan").Output()
			if err != nil {
				return 99
			}
			report("orphan %s", strings.TrimSpace(string(out)))
		}
	}
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			report("signal %d hangup", os.Getpid())
			continue
		}
		report("term %d", os.Getpid())
		if os.Getenv("ENVEXEC_TEST_IGNORE_TERM") == "1" {
			continue
		}
		code, _ := strconv.Atoi(os.Getenv("ENVEXEC_TEST_TERM_CODE"))
		return code
	}
	return 0
}

func hash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:8])
}

// volume is a secrets directory written as the agent writes it, with the
// atomic writer and the renderer.
type volume struct {
	t   *testing.T
	dir string
	w   *sink.Writer
}

func newVolume(t *testing.T) *volume {
	t.Helper()
	dir := t.TempDir()
	w, err := sink.New(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &volume{t: t, dir: dir, w: w}
}

// secret is one secret the volume holds: its config and backend data.
type secret struct {
	name, format string
	data         string
}

// write renders the secrets and swaps them in, as one agent pass does.
func (v *volume) write(secrets ...secret) {
	v.t.Helper()
	var files []sink.File
	for _, s := range secrets {
		fs, err := render.Render(config.Secret{Name: s.name, Format: s.format, Mode: 0o400}, []byte(s.data), "1")
		if err != nil {
			v.t.Fatalf("render %s: %v", s.name, err)
		}
		for _, f := range fs {
			f.UID, f.GID, f.Mode = -1, -1, 0o400
			files = append(files, f)
		}
	}
	if _, err := v.w.Write(files); err != nil {
		v.t.Fatal(err)
	}
}

// wrapper is a running wrapper process and what it wrote.
type wrapper struct {
	t      *testing.T
	cmd    *exec.Cmd
	report string
	stderr *testkit.Buffer
	done   chan struct{}
	code   int
}

// startWrapper runs the wrapper with flags around the test app with
// appArgs; env adds to the app's environment (it inherits the wrapper's).
func startWrapper(t *testing.T, dir string, flags []string, env []string, appArgs ...string) *wrapper {
	t.Helper()
	report := filepath.Join(t.TempDir(), "report")
	args := append([]string{"envexec-wrapper", "--dir", dir, "--poll", "200ms"}, flags...)
	args = append(args, "--", os.Args[0], "envexec-app")
	args = append(args, appArgs...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ENVEXEC_TEST_REPORT="+report)
	cmd.Env = append(cmd.Env, env...)
	w := &wrapper{t: t, cmd: cmd, report: report, stderr: &testkit.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = w.stderr
	// A group of its own, so that cleanup kills the app with the wrapper;
	// and Wait returns once the wrapper is gone, even if the app lives on
	// with its stderr.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		w.code = cmd.ProcessState.ExitCode()
		close(w.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-w.done
		if t.Failed() {
			t.Logf("wrapper stderr:\n%s", w.stderr.String())
		}
	})
	return w
}

// waitTimeout bounds every wait: it is a failure's limit, not a speed
// requirement.
const waitTimeout = 30 * time.Second

// lines waits until the report has n lines that start with prefix and
// returns them.
func (w *wrapper) lines(prefix string, n int) []string {
	w.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var got []string
		data, _ := os.ReadFile(w.report)
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), prefix) {
				got = append(got, sc.Text())
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("the report has %d lines starting %q, want %d:\n%s", len(got), prefix, n, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exit waits for the wrapper to exit and returns its exit code.
func (w *wrapper) exit() int {
	w.t.Helper()
	select {
	case <-w.done:
		return w.code
	case <-time.After(waitTimeout):
		w.t.Fatalf("the wrapper did not exit")
		return 0
	}
}

func (w *wrapper) signal(sig syscall.Signal) {
	w.t.Helper()
	if err := w.cmd.Process.Signal(sig); err != nil {
		w.t.Fatal(err)
	}
}

// field returns the value of key=value in a report line.
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// waitGone waits until path (a /proc entry) no longer exists.
func (w *wrapper) waitGone(path string) {
	w.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(path)
			w.t.Fatalf("%s still exists (not reaped): %s", path, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStderr waits until the wrapper's output holds s.
func (w *wrapper) waitStderr(s string) {
	w.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !strings.Contains(w.stderr.String(), s) {
		if time.Now().After(deadline) {
			w.t.Fatalf("the wrapper never wrote %q", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
