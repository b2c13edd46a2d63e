//go:build unix

package notify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

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
			err = n.Notify(context.Background(), time.Time{})
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
	if err := n.Notify(context.Background(), time.Time{}); err == nil || !strings.Contains(err.Error(), "list processes") {
		t.Errorf("Notify without a process table: %v", err)
	}
}

func TestSignalNames(t *testing.T) {
	for _, name := range config.Signals {
		if unix.SignalNum(name) == 0 {
			t.Errorf("config.Signals has %s, which notify cannot send", name)
		}
	}
}

// writeStat gives a fake process a /proc/<pid>/stat whose starttime (field
// 22) is start, in ticks of 1/100 s. The comm holds a space and a ')' as
// real ones may.
func writeStat(t *testing.T, root string, pid string, start time.Duration) {
	t.Helper()
	ticks := int64(start / (10 * time.Millisecond))
	// Fields 3 to 21, then starttime, then the rest.
	line := pid + " (my app) x) S" + strings.Repeat(" 0", 21-3) + fmt.Sprintf(" %d", ticks) + " 4096 100 18446744073709551615\n"
	if err := os.WriteFile(filepath.Join(root, pid, "stat"), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

// An app that started after the change read the new files as it started;
// a signal meant for the change could reach it before it handles signals.
// Only processes that started before the change are signalled.
func TestSignalSkipsProcessesStartedAfterTheChange(t *testing.T) {
	procs := map[string][2]string{
		"10": {"app", "/app\x00"}, // started long before the change
		"11": {"app", "/app\x00"}, // started after the change, before the signal
		"12": {"app", "/app\x00"}, // started within clock rounding of the change
		"13": {"app", "/app\x00"}, // start unknown: signalled, as before
	}
	boot := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := boot.Add(1000 * time.Second) // uptime 1000.00
	changed := now.Add(-2 * time.Second)
	for _, tc := range []struct {
		name       string
		changed    time.Time
		procs      []string
		wantPids   []int
		wantRecord string
	}{
		{"only those started before", changed, []string{"10", "11", "12", "13"}, []int{10, 12, 13}, "signal/ok"},
		{"every match started after", changed, []string{"11"}, nil, "signal/skipped"},
		{"no change time: everyone", time.Time{}, []string{"10", "11", "12", "13"}, []int{10, 11, 12, 13}, "signal/ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			present := map[string][2]string{}
			for _, pid := range tc.procs {
				present[pid] = procs[pid]
			}
			root := fakeProc(t, present)
			if err := os.WriteFile(filepath.Join(root, "uptime"), []byte("1000.00 1900.00\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			for pid, start := range map[string]time.Duration{"10": 10 * time.Second, "11": 999 * time.Second, "12": 998010 * time.Millisecond} {
				if _, ok := present[pid]; ok {
					writeStat(t, root, pid, start)
				}
			}
			var r recorder
			n, err := newSignal(config.Notify{Signal: "SIGHUP", Process: "app"}, discard(), r.record)
			if err != nil {
				t.Fatal(err)
			}
			n.procRoot, n.self, n.clockTicks = root, 50, 100
			n.now = func() time.Time { return now }
			var sent []int
			n.kill = func(pid int, _ syscall.Signal) error {
				sent = append(sent, pid)
				return nil
			}
			if err := n.Notify(context.Background(), tc.changed); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			slices.Sort(sent)
			if diff := cmp.Diff(tc.wantPids, sent); diff != "" {
				t.Errorf("signalled pids (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{tc.wantRecord}, r.calls()); diff != "" {
				t.Errorf("recorded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadUptime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1000.00 1900.00\n": 1000 * time.Second,
		"12.34 5.00":        12340 * time.Millisecond,
		"7 1":               7 * time.Second,
	} {
		p := filepath.Join(t.TempDir(), "uptime")
		if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := readUptime(p); err != nil || got != want {
			t.Errorf("readUptime(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
}
