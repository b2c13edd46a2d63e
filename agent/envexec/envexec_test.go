package envexec_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tradepulse/secret-injector/agent/envexec"
)

const (
	apiKey1 = "k-1-sentinel-7f3a"
	apiKey2 = "k-2-sentinel-91bc"
	dbPass  = `p w'"$HOME-sentinel-c0de`
)

func baseSecrets(key string) []secret {
	return []secret{
		{name: "api-key", format: "raw", data: key},
		{name: "db.env", format: "env", data: `{"DB_USER":"svc","DB_PASSWORD":` + strconv.Quote(dbPass) + `}`},
	}
}

// The app sees each secret in its environment: a raw file as one
// variable, an env file's lines as theirs; the secret wins over the
// container's own variable of that name; a missing file leaves its
// variable unset. Signals reach the app, the app's exit code is the
// wrapper's, and no value reaches the wrapper's output.
func TestAppSeesTheSecretsInItsEnvironment(t *testing.T) {
	v := newVolume(t)
	v.write(baseSecrets(apiKey1)...)
	w := startWrapper(t, v.dir,
		[]string{"--var", "API_KEY=api-key", "--env-file", "db.env", "--var", "LATER=later", "--reload", "restart"},
		[]string{"ENVEXEC_TEST_VARS=API_KEY,DB_USER,DB_PASSWORD,LATER", "API_KEY=from-the-pod-spec", "ENVEXEC_TEST_TERM_CODE=7"})
	start := w.lines("start", 1)[0]
	for name, want := range map[string]string{"API_KEY": hash(apiKey1), "DB_USER": hash("svc"), "DB_PASSWORD": hash(dbPass), "LATER": "unset"} {
		if got := field(start, name); got != want {
			t.Errorf("%s = %s in the app, want %s (%s)", name, got, want, start)
		}
	}

	w.signal(syscall.SIGHUP)
	w.lines("signal", 1)
	w.signal(syscall.SIGTERM)
	w.lines("term", 1)
	if code := w.exit(); code != 7 {
		t.Errorf("wrapper exit code %d, want the app's 7", code)
	}
	out := w.stderr.String()
	for _, value := range []string{apiKey1, dbPass, "sentinel"} {
		if strings.Contains(out, value) {
			t.Errorf("the wrapper's output holds a value (%q):\n%s", value, out)
		}
	}
	if !strings.Contains(out, `"file":"later"`) {
		t.Errorf("the wrapper does not say that file later is missing:\n%s", out)
	}
}

// Restart mode: a new value in the files stops the app with SIGTERM and
// starts it again with the new value.
func TestRestartModeRestartsWithTheNewValues(t *testing.T) {
	v := newVolume(t)
	v.write(baseSecrets(apiKey1)...)
	w := startWrapper(t, v.dir, []string{"--var", "API_KEY=api-key", "--env-file", "db.env"},
		[]string{"ENVEXEC_TEST_VARS=API_KEY,DB_USER"})
	first := w.lines("start", 1)[0]

	v.write(baseSecrets(apiKey2)...)
	starts := w.lines("start", 2)
	if got := field(starts[1], "API_KEY"); got != hash(apiKey2) {
		t.Errorf("after the change the app has API_KEY %s, want the new value's %s", got, hash(apiKey2))
	}
	firstPID := strings.Fields(first)[1]
	if terms := w.lines("term", 1); terms[0] != "term "+firstPID {
		t.Errorf("term lines %q, want the first app (%s) stopped with SIGTERM", terms, firstPID)
	}
	if strings.Fields(starts[1])[1] == firstPID {
		t.Errorf("the restarted app has the first one's pid %s", firstPID)
	}

	// A write of the same values changes nothing.
	v.write(baseSecrets(apiKey2)...)
	w.signal(syscall.SIGTERM)
	if code := w.exit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if n := len(w.lines("start", 2)); n != 2 {
		t.Errorf("%d starts, want 2", n)
	}
}

// An app that ignores SIGTERM is killed after the grace period and
// started again; an app killed by a signal makes the wrapper exit with
// 128+n, as a shell does.
func TestRestartKillsAnAppThatDoesNotStop(t *testing.T) {
	v := newVolume(t)
	v.write(baseSecrets(apiKey1)...)
	w := startWrapper(t, v.dir, []string{"--var", "API_KEY=api-key", "--grace", "300ms"},
		[]string{"ENVEXEC_TEST_VARS=API_KEY", "ENVEXEC_TEST_IGNORE_TERM=1"})
	w.lines("start", 1)
	v.write(baseSecrets(apiKey2)...)
	w.lines("term", 1)
	starts := w.lines("start", 2)
	if got := field(starts[1], "API_KEY"); got != hash(apiKey2) {
		t.Errorf("API_KEY %s after the restart, want %s", got, hash(apiKey2))
	}
	// The app does not catch SIGINT: it dies of it.
	w.signal(syscall.SIGINT)
	if code := w.exit(); code != 128+int(syscall.SIGINT) {
		t.Errorf("exit code %d, want %d (128+SIGINT)", code, 128+int(syscall.SIGINT))
	}
}

// Signal mode: a change sends the chosen signal to the running app,
// which is not restarted.
func TestSignalModeSignalsTheApp(t *testing.T) {
	v := newVolume(t)
	v.write(baseSecrets(apiKey1)...)
	w := startWrapper(t, v.dir, []string{"--var", "API_KEY=api-key", "--reload", "signal:SIGHUP"},
		[]string{"ENVEXEC_TEST_VARS=API_KEY"})
	first := w.lines("start", 1)[0]
	v.write(baseSecrets(apiKey2)...)
	sig := w.lines("signal", 1)[0]
	if pid := strings.Fields(first)[1]; sig != "signal "+pid+" hangup" {
		t.Errorf("signal line %q, want SIGHUP to the app (pid %s)", sig, pid)
	}
	w.signal(syscall.SIGTERM)
	if code := w.exit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if starts := w.lines("start", 1); len(starts) != 1 {
		t.Errorf("the app started %d times in signal mode, want once", len(starts))
	}
}

// An app that exits on its own ends the wrapper with its exit code.
func TestExitCodeIsTheApps(t *testing.T) {
	v := newVolume(t)
	v.write(baseSecrets(apiKey1)...)
	w := startWrapper(t, v.dir, []string{"--var", "API_KEY=api-key"}, nil, "exit=3")
	if code := w.exit(); code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
}

// A process the app leaves behind is adopted and reaped by the wrapper,
// as by a container's PID 1: no zombie stays.
func TestReapsOrphans(t *testing.T) {
	v := newVolume(t)
	v.write(baseSecrets(apiKey1)...)
	w := startWrapper(t, v.dir, []string{"--var", "API_KEY=api-key"}, nil, "orphan")
	orphan := strings.Fields(w.lines("orphan", 1)[0])[1]
	stat := "/proc/" + orphan + "/stat"
	if data, err := os.ReadFile(stat); err == nil {
		// Fields after the command's closing parenthesis: state, ppid.
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if f[0] != "Z" && f[1] != strconv.Itoa(w.cmd.Process.Pid) {
			t.Errorf("the orphan's parent is %s, want the wrapper %d", f[1], w.cmd.Process.Pid)
		}
	}
	w.waitGone(stat)
	w.signal(syscall.SIGTERM)
	w.exit()
}

// A command that is not there exits 127, naming it.
func TestCommandNotFound(t *testing.T) {
	v := newVolume(t)
	v.write(baseSecrets(apiKey1)...)
	cmd := exec.Command(os.Args[0], "envexec-wrapper", "--dir", v.dir, "--var", "API_KEY=api-key", "--", "/no/such/app")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 127 {
		t.Fatalf("exit code %d (%v), want 127:\n%s", code, err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "/no/such/app") {
		t.Errorf("the error does not name the command:\n%s", stderr.String())
	}
}

// A file that is not KEY=value lines stops the start with an error that
// names the file and shows nothing of what it holds.
func TestBadEnvFileShowsNoValue(t *testing.T) {
	v := newVolume(t)
	v.write(secret{name: "bad.env", format: "raw", data: "this is not-sentinel-55aa an env line\n"})
	cmd := exec.Command(os.Args[0], "envexec-wrapper", "--dir", v.dir, "--env-file", "bad.env", "--", os.Args[0], "envexec-app", "exit=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if out := stderr.String(); !strings.Contains(out, "bad.env is not KEY=value lines") || strings.Contains(out, "sentinel") {
		t.Errorf("want an error naming bad.env and no value, got:\n%s", out)
	}
}

func TestParseRejectsBadCommandLines(t *testing.T) {
	for name, args := range map[string][]string{
		"no dash-dash":     {"--var", "A=a", "/app"},
		"no command":       {"--var", "A=a", "--"},
		"bad variable":     {"--var", "1A=a", "--", "/app"},
		"file escapes":     {"--var", "A=../etc/passwd", "--", "/app"},
		"variable twice":   {"--var", "A=a", "--var", "A=b", "--", "/app"},
		"unknown signal":   {"--reload", "signal:SIGKILL", "--", "/app"},
		"unknown reload":   {"--reload", "sometimes", "--", "/app"},
		"env file escapes": {"--env-file", "/etc/passwd", "--", "/app"},
		"zero grace":       {"--grace", "0s", "--", "/app"},
	} {
		if _, err := envexec.Parse(args, io.Discard); err == nil {
			t.Errorf("%s: %q accepted", name, args)
		}
	}
	o, err := envexec.Parse([]string{"--var", "A=a", "--reload", "signal:SIGUSR1", "--", "/app", "--", "-x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Reload != envexec.ReloadSignal || o.Signal != "SIGUSR1" || strings.Join(o.Command, " ") != "/app -- -x" {
		t.Errorf("parsed %+v", o)
	}
}

// Install copies this binary so that another uid may run it and nobody
// may change it; the copy runs.
func TestInstall(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "secret-injector-agent")
	if err := os.WriteFile(dst, []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := envexec.Install(dst); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != envexec.InstallMode {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), os.FileMode(envexec.InstallMode))
	}
	run := exec.Command(dst, "envexec-app", "exit=5")
	run.Env = append(os.Environ(), "ENVEXEC_TEST_REPORT="+filepath.Join(t.TempDir(), "report"))
	err = run.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 5 {
		t.Errorf("running the copy: %v, want exit status 5", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dst))
	if len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want the copy alone", len(entries))
	}
}

// Reload none: a change is noticed and the app left alone.
func TestReloadNoneLeavesTheApp(t *testing.T) {
	v := newVolume(t)
	v.write(baseSecrets(apiKey1)...)
	w := startWrapper(t, v.dir, []string{"--var", "API_KEY=api-key", "--reload", "none"}, []string{"ENVEXEC_TEST_VARS=API_KEY"})
	w.lines("start", 1)
	v.write(baseSecrets(apiKey2)...)
	w.waitStderr("reload none")
	w.signal(syscall.SIGTERM)
	if code := w.exit(); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if n := len(w.lines("start", 1)); n != 1 {
		t.Errorf("%d starts, want 1", n)
	}
	if n := len(w.lines("signal", 0)); n != 0 {
		t.Errorf("the app got %d signals, want none", n)
	}
}
