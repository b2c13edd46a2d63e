package benchkit

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tradepulse/secret-injector/internal/testkit"
)

// Mem is a process's resident memory in KiB: the total, and the part of it
// that is anonymous (heap, stacks) rather than file-backed (the mapped
// binary, shared libraries).
type Mem struct {
	RSSKiB  int `json:"rssKiB"`
	AnonKiB int `json:"anonKiB"`
	FileKiB int `json:"fileKiB"`
}

// MiB converts KiB to MiB.
func MiB(kib int) float64 { return float64(kib) / 1024 }

// ReadMem reads /proc/<pid>/smaps_rollup (falling back to status).
func ReadMem(pid int) (Mem, error) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		return parseMem(b, "Rss:", "Anonymous:"), nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, err
	}
	return parseMem(b, "VmRSS:", "RssAnon:"), nil
}

// parseMem reads the kB figures of a /proc file under the keys that hold
// the resident and anonymous sizes.
func parseMem(b []byte, rssKey, anonKey string) Mem {
	var m Mem
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case rssKey:
			m.RSSKiB = v
		case anonKey:
			m.AnonKiB = v
		}
	}
	m.FileKiB = m.RSSKiB - m.AnonKiB
	return m
}

// CPUSeconds is a process's user+system CPU time so far, from
// /proc/<pid>/stat (clock ticks of 1/100 s on Linux).
func CPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// The command name may contain spaces; fields restart after ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	// After ')': state(0) ... utime is field 14 overall, i.e. f[11]; stime f[12].
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil
}

// FreeAddr is testkit.FreeAddr for a config file, which wants an address
// even when none could be found: then 127.0.0.1:0.
func FreeAddr() string {
	addr, err := testkit.FreeAddr()
	if err != nil {
		return "127.0.0.1:0"
	}
	return addr
}

// Workspace is how a bench program that runs the agent binary bin starts:
// it returns bin as an absolute path (the agent processes run in other
// directories) and a new TempDir named after prefix, which the caller
// removes when done.
func Workspace(bin, prefix string) (absBin, dir string, err error) {
	if absBin, err = filepath.Abs(bin); err != nil {
		return "", "", err
	}
	dir, err = TempDir(prefix)
	return absBin, dir, err
}

// TempDir makes a temporary directory on tmpfs (/dev/shm) when there is
// one, as the agent's volume is an emptyDir with medium Memory in a pod;
// otherwise in the default temporary directory.
func TempDir(pattern string) (string, error) {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", pattern); err == nil {
			return d, nil
		}
	}
	return os.MkdirTemp("", pattern)
}

// GoStats reads the Go runtime's figures (go_goroutines,
// go_memstats_heap_alloc_bytes, …) from a Prometheus endpoint such as the
// agent's /metrics: what the anonymous memory of a measured Go process is
// made of. Lines with labels are skipped.
func GoStats(metricsURL string) (map[string]float64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(metricsURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d", metricsURL, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || !strings.HasPrefix(f[0], "go_") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out, sc.Err()
}
