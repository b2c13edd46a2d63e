//go:build unix

package notify

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tradepulse/secret-injector/agent/config"
)

// fakeProc builds a /proc-like tree: pid → comm and cmdline (argv joined by
// NUL, as the kernel writes it).
func fakeProc(t *testing.T, procs map[string][2]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, p := range procs {
		dir := filepath.Join(root, pid)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if p[0] != "" {
			if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(p[0]+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "cmdline"), []byte(p[1]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// A pod with a shared process namespace, as the agent sees it (pid 50).
var pod = map[string][2]string{
	"1":    {"pause", "/pause\x00"},
	"10":   {"app", "/usr/local/bin/app\x00--config\x00/etc/app\x00"},
	"11":   {"app", "app\x00worker\x00"},
	"12":   {"sh", "/usr/local/bin/app\x00"},                  // argv[0] says app
	"13":   {"python3", "python3\x00app\x00"},                 // app is an argument, not the process
	"14":   {"long-process-na", "/bin/long-process-name\x00"}, // comm is cut to 15 bytes
	"15":   {"kworker/0:1", ""},                               // kernel thread
	"50":   {"app", "/agent\x00"},                             // the agent itself
	"self": {"", ""},
}

func TestSignal(t *testing.T) {
	for _, tc := range []struct {
		name     string
		procs    map[string][2]string
		process  string
		killErr  map[int]error
		wantPids []int
		wantErr  []string // substrings; nil means success
	}{
		{
			name:     "by comm and by argv[0], never the agent",
			procs:    pod,
			process:  "app",
			wantPids: []int{10, 11, 12},
		},
		{
			name:     "name longer than comm holds",
			procs:    pod,
			process:  "long-process-name",
			wantPids: []int{14},
		},
		{
			name:    "no such process",
			procs:   pod,
			process: "nginx",
			wantErr: []string{`"nginx"`, "shareProcessNamespace: true"},
		},
		{
			name:    "only the agent matches",
			procs:   map[string][2]string{"50": {"app", ""}},
			process: "app",
			wantErr: []string{"shareProcessNamespace: true"},
		},
		{
			name:     "process gone before the signal",
			procs:    pod,
			process:  "app",
			killErr:  map[int]error{11: syscall.ESRCH},
			wantPids: []int{10, 12},
		},
		{
			name:    "every match gone",
			procs:   pod,
			process: "app",
			killErr: map[int]error{10: syscall.ESRCH, 11: syscall.ESRCH, 12: syscall.ESRCH},
			wantErr: []string{"shareProcessNamespace"},
		},
		{
			name:     "not permitted",
			procs:    pod,
			process:  "app",
			killErr:  map[int]error{11: syscall.EPERM},
			wantPids: []int{10, 12},
			wantErr:  []string{"SIGHUP to app (pid 11)", "CAP_KILL"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r recorder
			n, err := newSignal(config.Notify{Signal: "SIGHUP", Process: tc.process}, discard(), r.record)
			if err != nil {
				t.Fatal(err)
			}
			n.procRoot = fakeProc(t, tc.procs)
			n.self = 50
			var sent []int
			n.kill = func(pid int, sig syscall.Signal) error {
				if sig != syscall.SIGHUP {
					t.Errorf("sent %v, want SIGHUP", sig)
				}
				if err := tc.killErr[pid]; err != nil {
					return err
				}
				sent = append(sent, pid)
				return nil
			}
			err = n.Notify(context.Background())
			slices.Sort(sent)
			if diff := cmp.Diff(tc.wantPids, sent); diff != "" {
				t.Errorf("signalled pids (-want +got):\n%s", diff)
			}
			wantRecord := "signal/ok"
			if tc.wantErr != nil {
				wantRecord = "signal/error"
				if err == nil {
					t.Fatal("Notify succeeded, want an error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
			} else if err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if diff := cmp.Diff([]string{wantRecord}, r.calls()); diff != "" {
				t.Errorf("recorded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSignalNoProc(t *testing.T) {
	n, err := newSignal(config.Notify{Signal: "SIGUSR1", Process: "app"}, discard(), func(string, string) {})
	if err != nil {
		t.Fatal(err)
	}
	n.procRoot = filepath.Join(t.TempDir(), "absent")
	if err := n.Notify(context.Background()); err == nil || !strings.Contains(err.Error(), "list processes") {
		t.Errorf("Notify without a process table: %v", err)
	}
}

func TestSignalNames(t *testing.T) {
	for name := range config.Signals {
		if _, ok := signals[name]; !ok {
			t.Errorf("config.Signals has %s, which notify cannot send", name)
		}
	}
}
