package notify

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/config"
)

// childEnv makes the test binary act as an app waiting for SIGHUP.
const childEnv = "NOTIFY_TEST_SIGNAL_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childApp())
	}
	os.Exit(m.Run())
}

// childApp reports "ready" once its handler is installed and "SIGHUP" when
// the signal arrives.
func childApp() int {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	fmt.Println("ready")
	select {
	case <-c:
		fmt.Println("SIGHUP")
		return 0
	case <-time.After(time.Minute):
		return 3
	}
}

// TestSignalRealProcess signals a real child found in the real /proc. The
// child runs under a random name (through a symlink, which the kernel uses
// for comm and argv[0]), so nothing else on the machine can match.
func TestSignalRealProcess(t *testing.T) {
	for _, tc := range []struct{ name, process string }{
		{"found by comm", fmt.Sprintf("nfy%08x", rand.Uint32())},
		{"found by argv[0] when comm is cut", fmt.Sprintf("notify-test-app-%08x", rand.Uint32())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(t.TempDir(), tc.process)
			if err := os.Symlink(exe, link); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(link)
			cmd.Env = append(os.Environ(), childEnv+"=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			})
			lines := make(chan string)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			expect := func(want string) {
				t.Helper()
				select {
				case got := <-lines:
					if got != want {
						t.Fatalf("child said %q, want %q", got, want)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("child did not say %q", want)
				}
			}
			expect("ready")
			comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.TrimSpace(string(comm)), tc.process[:min(15, len(tc.process))]; got != want {
				t.Fatalf("child's comm is %q, want %q", got, want)
			}

			var r recorder
			n, err := New(config.Notify{Signal: "SIGHUP", Process: tc.process}, discard(), r.record)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Notify(context.Background(), time.Time{}); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			expect("SIGHUP")
		})
	}
}

// startChild runs the test binary as an app named process waiting for
// SIGHUP, and returns its lines of output once it is ready.
func startChild(t *testing.T, process string) (*exec.Cmd, <-chan string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), process)
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 2)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	select {
	case got := <-lines:
		if got != "ready" {
			t.Fatalf("child said %q, want ready", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("child not ready")
	}
	return cmd, lines
}

// The real clocks: the kernel's start time of a real child against a
// change time taken in this process. A change written before the child
// started is not signalled to it; one written after it started is.
func TestSignalRealProcessStartedAfterTheChange(t *testing.T) {
	if hz := clockTicks("/proc/self/auxv"); hz <= 0 {
		t.Fatalf("clock ticks %d", hz)
	}
	process := fmt.Sprintf("nfy%08x", rand.Uint32())
	before := time.Now()
	time.Sleep(200 * time.Millisecond) // well past the clocks' rounding
	_, lines := startChild(t, process)

	var r recorder
	n, err := New(config.Notify{Signal: "SIGHUP", Process: process}, discard(), r.record)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), before); err != nil {
		t.Fatalf("Notify for a change before the child started: %v", err)
	}
	select {
	case got := <-lines:
		t.Fatalf("child started after the change was signalled: %q", got)
	case <-time.After(300 * time.Millisecond):
	}
	if err := n.Notify(context.Background(), time.Now()); err != nil {
		t.Fatalf("Notify for a change after the child started: %v", err)
	}
	select {
	case got := <-lines:
		if got != "SIGHUP" {
			t.Fatalf("child said %q, want SIGHUP", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("child started before the change was not signalled")
	}
	if diff := cmp.Diff([]string{"signal/skipped", "signal/ok"}, r.calls()); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}
