//go:build unix

package notify

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tradepulse/secret-injector/agent/config"
)

// signalNotifier sends a signal to every process with a given name. In a
// pod that needs shareProcessNamespace: the agent sees the app's processes
// only then.
type signalNotifier struct {
	name    string // e.g. "SIGHUP"
	sig     syscall.Signal
	process string
	log     *slog.Logger
	record  func(kind, result string)

	// procRoot, self and kill are the process table, the agent's own pid
	// (never signalled) and the way signals are sent; tests replace them.
	procRoot string
	self     int
	kill     func(pid int, sig syscall.Signal) error
	// clockTicks is the kernel's USER_HZ, the unit of a process's start
	// time in /proc/<pid>/stat.
	clockTicks int64
	// now is the wall clock with its monotonic reading; tests replace it.
	now func() time.Time
}

func newSignal(cfg config.Notify, log *slog.Logger, record func(kind, result string)) (*signalNotifier, error) {
	if err := config.ValidateSignal(cfg.Signal); err != nil {
		return nil, fmt.Errorf("notify.signal: %w", err)
	}
	if cfg.Process == "" {
		return nil, errors.New("notify.process: required with notify.signal")
	}
	return &signalNotifier{
		name:     cfg.Signal,
		sig:      unix.SignalNum(cfg.Signal),
		process:  cfg.Process,
		log:      log,
		record:   record,
		procRoot: "/proc",
		self:     os.Getpid(),
		kill:     syscall.Kill,

		clockTicks: clockTicks("/proc/self/auxv"),
		now:        time.Now,
	}, nil
}

// Notify signals every matching process that started before changed: one
// that started after it read the new files when it started, and may not
// handle the signal yet (an app that installs its handler some seconds
// after start dies of SIGHUP). It fails when no process is found or one
// could not be signalled; it records "skipped" when every match started
// after the change.
func (n *signalNotifier) Notify(ctx context.Context, changed time.Time) error {
	sent, err := n.notify(ctx, changed)
	switch {
	case err != nil:
		n.record(KindSignal, ResultError)
		return err
	case sent == 0:
		n.record(KindSignal, ResultSkipped)
	default:
		n.record(KindSignal, ResultOK)
	}
	return nil
}

func (n *signalNotifier) notify(ctx context.Context, changed time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	pids, err := n.find()
	if err != nil {
		return 0, err
	}
	if len(pids) == 0 {
		return 0, n.notFound()
	}
	pids, younger := n.startedBefore(pids, changed)
	if len(younger) > 0 {
		n.log.Info("not signalling processes that started after the change: they read the new files as they started",
			"process", n.process, "pids", younger)
	}
	if len(pids) == 0 {
		return 0, nil
	}
	var sent []int
	var errs []error
	for _, pid := range pids {
		err := n.kill(pid, n.sig)
		switch {
		case err == nil:
			sent = append(sent, pid)
		case errors.Is(err, syscall.ESRCH):
			// Exited since the scan: nothing left to tell.
		case errors.Is(err, syscall.EPERM):
			errs = append(errs, fmt.Errorf("%s to %s (pid %d): %w; the agent must run as the app's user or have CAP_KILL", n.name, n.process, pid, err))
		default:
			errs = append(errs, fmt.Errorf("%s to %s (pid %d): %w", n.name, n.process, pid, err))
		}
	}
	if len(errs) > 0 {
		return len(sent), fmt.Errorf("notify: %w", errors.Join(errs...))
	}
	if len(sent) == 0 {
		return 0, n.notFound()
	}
	n.log.Info("signalled app", "signal", n.name, "process", n.process, "pids", sent)
	return len(sent), nil
}

// startMargin absorbs the rounding of both clocks compared: /proc/uptime
// in hundredths of a second, a start time in clock ticks. A process is
// taken to have started after the change only when it started clearly
// after: one that started just before must not miss the signal.
const startMargin = 20 * time.Millisecond

// startedBefore splits pids into those that started before changed (or
// whose start cannot be told) and those that started after it. Both
// times are taken on the clock since boot: a process's start from field
// 22 of /proc/<pid>/stat (clock ticks since boot), the change from
// /proc/uptime less the time since the change (the monotonic clock). The
// wall clock and the boot time in /proc/stat (whole seconds, and moved by
// NTP) take no part.
func (n *signalNotifier) startedBefore(pids []int, changed time.Time) (before, after []int) {
	if changed.IsZero() || n.clockTicks <= 0 {
		return pids, nil
	}
	uptime, err := readUptime(filepath.Join(n.procRoot, "uptime"))
	if err != nil {
		n.log.Debug("cannot read the time since boot; signalling every match", "err", err)
		return pids, nil
	}
	changedSinceBoot := uptime - n.now().Sub(changed)
	for _, pid := range pids {
		start, err := n.startSinceBoot(pid)
		if err == nil && start > changedSinceBoot+startMargin {
			after = append(after, pid)
			continue
		}
		before = append(before, pid)
	}
	return before, after
}

// startSinceBoot reads when pid started, as time since boot.
func (n *signalNotifier) startSinceBoot(pid int) (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join(n.procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid …: comm may hold spaces and parentheses, so
	// the fields are counted from the last ')'. The one after it is field
	// 3 (state); starttime is field 22.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 22-2 {
		return 0, errors.New("malformed stat")
	}
	ticks, err := strconv.ParseInt(fields[22-3], 10, 64)
	if err != nil || ticks < 0 {
		return 0, errors.New("malformed stat")
	}
	return time.Duration(ticks) * time.Second / time.Duration(n.clockTicks), nil
}

// readUptime reads the first field of /proc/uptime: seconds since boot,
// with two decimals, on the same clock as process start times.
func readUptime(path string) (time.Duration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
	secs, frac, _ := strings.Cut(first, ".")
	s, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed uptime %q", first)
	}
	d := time.Duration(s) * time.Second
	if frac != "" {
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || len(frac) > 9 {
			return 0, fmt.Errorf("malformed uptime %q", first)
		}
		for range 9 - len(frac) {
			f *= 10
		}
		d += time.Duration(f)
	}
	return d, nil
}

// atClkTck is the auxiliary vector entry holding the clock tick rate.
const atClkTck = 17

// clockTicks reads the kernel's USER_HZ from the process's auxiliary
// vector (AT_CLKTCK, what sysconf(_SC_CLK_TCK) returns), or 100, its
// value on every architecture Go runs Linux on, when it cannot be read.
func clockTicks(auxv string) int64 {
	const fallback = 100
	data, err := os.ReadFile(auxv)
	if err != nil {
		return fallback
	}
	word := strconv.IntSize / 8
	for i := 0; i+2*word <= len(data); i += 2 * word {
		key, val := readWord(data[i:], word), readWord(data[i+word:], word)
		if key == 0 {
			break
		}
		if key == atClkTck && val > 0 {
			return int64(val)
		}
	}
	return fallback
}

func readWord(b []byte, size int) uint64 {
	if size == 4 {
		return uint64(binary.NativeEndian.Uint32(b))
	}
	return binary.NativeEndian.Uint64(b)
}

func (n *signalNotifier) notFound() error {
	return fmt.Errorf("notify: no process named %q is visible to the agent; set shareProcessNamespace: true on the pod so the agent can see the app's processes", n.process)
}

// find lists the pids of processes named n.process, other than the agent.
// The name is the kernel's comm (cut to 15 bytes) or, for longer names and
// interpreters' children, the base name of argv[0].
func (n *signalNotifier) find() ([]int, error) {
	entries, err := os.ReadDir(n.procRoot)
	if err != nil {
		return nil, fmt.Errorf("notify: list processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 || pid == n.self {
			continue
		}
		if n.matches(filepath.Join(n.procRoot, e.Name())) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// matches reads one process's names; a process that exits meanwhile simply
// does not match.
func (n *signalNotifier) matches(dir string) bool {
	if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		if strings.TrimSuffix(string(comm), "\n") == n.process {
			return true
		}
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil || len(cmdline) == 0 {
		return false
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return argv0 != "" && filepath.Base(argv0) == n.process
}
