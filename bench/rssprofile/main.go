// Command rssprofile says where an agent's resident memory is after its
// first render: the anonymous part (heap, stacks) and, page by page, which
// Go packages the resident pages of the mapped binary belong to. It builds
// an unstripped twin of the agent (same flags but -s -w, so the same
// layout with a symbol table), runs it as a sidecar on the Vault test bed
// (20 secrets, as vaultbench) or, with --backend env, on a .env file, reads
// /proc/PID/pagemap for its mappings of the binary, and splits each
// resident page among the symbols on it.
//
// A page is resident because the process touched it or because the kernel
// mapped it around one it touched (fault-around maps up to 64 KiB of
// neighbours already in the page cache), so the figures are what the code
// and data of a package cost, not what was read of it.
//
//	go run ./bench/rssprofile                     # vault, all backends
//	go run ./bench/rssprofile --tags agent_nogcp  # what the GCP SDK costs
package main

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tradepulse/secret-injector/bench/internal/benchkit"
)

func main() {
	pkg := flag.String("pkg", "./cmd/secret-injector-agent", "main package of the agent")
	tags := flag.String("tags", "", "build tags (agent_nogcp, agent_noaws, agent_novault)")
	backend := flag.String("backend", "vault", "vault (the test bed) or env")
	depth := flag.Int("depth", 3, "import path elements a group keeps (github.com/aws/aws-sdk-go-v2)")
	top := flag.Int("top", 30, "groups listed")
	benchkit.Main("rssprofile", func() error { return run(os.Stdout, *pkg, *tags, *backend, *depth, *top) })
}

func run(w io.Writer, pkg, tags, backend string, depth, top int) error {
	tmp, err := benchkit.TempDir("rssprofile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "agent")
	build := exec.Command("go", "build", "-trimpath", "-tags", tags, "-o", bin, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(tmp, "out")
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	var cfg string
	var files []string
	switch backend {
	case "vault":
		bed, fx, err := benchkit.OpenFixture(context.Background(), tmp, 19, 30*time.Second, 10*time.Minute)
		defer fx.Cleanup()
		if err != nil {
			return err
		}
		if cfg, err = fx.AgentConfig(tmp, out, bed.Addr, 5*time.Minute); err != nil {
			return err
		}
		files = fx.FileNames()
	case "env":
		if cfg, files, err = envFixture(tmp, out, 20); err != nil {
			return err
		}
	default:
		return fmt.Errorf("--backend %q: want vault or env", backend)
	}
	p, err := benchkit.StartProc(tmp, nil, bin, "agent", "--mode", "sidecar", "--config", cfg)
	if err != nil {
		return err
	}
	defer p.Stop(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := p.WaitFiles(ctx, benchkit.Paths(out, files))
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond) // let the first pass finish its bookkeeping
	m, err := benchkit.ReadMem(p.Pid())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "agent %s (tags %q) on %s: %d files in %s; RSS %.1f MiB = %.1f anonymous + %.1f file-backed\n\n",
		pkg, tags, backend, len(files), d.Round(time.Millisecond), benchkit.MiB(m.RSSKiB), benchkit.MiB(m.AnonKiB), benchkit.MiB(m.FileKiB))
	if err := goStats(w, cfg); err != nil {
		fmt.Fprintf(w, "(no Go runtime figures: %v)\n\n", err)
	}
	return profile(w, p.Pid(), bin, depth, top)
}

// envFixture writes a .env file with n secrets and an agent config for it.
func envFixture(dir, out string, n int) (string, []string, error) {
	var env, secrets strings.Builder
	var files []string
	for i := range n {
		fmt.Fprintf(&env, "BENCH_S%02d=value-%02d\n", i, i)
		fmt.Fprintf(&secrets, "  - {name: s%02d, ref: bench/s%02d}\n", i, i)
		files = append(files, fmt.Sprintf("s%02d", i))
	}
	envFile := filepath.Join(dir, ".env")
	if err := os.WriteFile(envFile, []byte(env.String()), 0o600); err != nil {
		return "", nil, err
	}
	cfg := fmt.Sprintf("version: secrets.tradepulse.io/v1\nbackend: {type: env, env: {files: [%q]}}\nmountPath: %s\nrefreshInterval: 5m\nadminAddr: %s\nmetricsAddr: %s\nsecrets:\n%s",
		envFile, out, benchkit.FreeAddr(), benchkit.FreeAddr(), secrets.String())
	path := filepath.Join(dir, "agent.yaml")
	return path, files, os.WriteFile(path, []byte(cfg), 0o600)
}

// goStats prints what the anonymous memory is made of, from the agent's
// own /metrics (the metricsAddr of its config).
func goStats(w io.Writer, cfgPath string) error {
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	var addr string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		for _, k := range []string{`"metricsAddr": "`, "metricsAddr: "} {
			if v, ok := strings.CutPrefix(line, k); ok {
				addr = strings.TrimRight(v, `",`)
			}
		}
	}
	if addr == "" {
		return fmt.Errorf("no metricsAddr in %s", cfgPath)
	}
	st, err := benchkit.GoStats("http://" + addr + "/metrics")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "| Go runtime | MiB |\n|---|---|\n")
	for _, k := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes",
		"go_memstats_stack_inuse_bytes", "go_memstats_mspan_inuse_bytes", "go_memstats_gc_sys_bytes", "go_memstats_other_sys_bytes",
		"go_memstats_buck_hash_sys_bytes", "go_memstats_sys_bytes"} {
		fmt.Fprintf(w, "| %s | %.2f |\n", strings.TrimPrefix(k, "go_memstats_"), st[k]/(1<<20))
	}
	fmt.Fprintf(w, "| goroutines | %.0f |\n\n", st["go_goroutines"])
	return nil
}

type symbol struct {
	addr, size uint64
	group      string
}

// profile attributes the resident pages of pid's mappings of bin.
func profile(w io.Writer, pid int, bin string, depth, top int) error {
	f, err := elf.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	elfSyms, err := f.Symbols()
	if err != nil {
		return err
	}
	var syms []symbol
	for _, s := range elfSyms {
		if s.Value != 0 && s.Size != 0 {
			syms = append(syms, symbol{s.Value, s.Size, group(s.Name, depth)})
		}
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	section := func(a uint64) string {
		for _, s := range f.Sections {
			if s.Flags&elf.SHF_ALLOC != 0 && a >= s.Addr && a < s.Addr+s.Size {
				return s.Name
			}
		}
		return "?"
	}

	ranges, err := mappings(pid)
	if err != nil {
		return err
	}
	pm, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return err
	}
	defer pm.Close()
	const page = 4096
	byGroup, bySection := map[string]float64{}, map[string]float64{}
	var pages int
	entry := make([]byte, 8)
	for _, r := range ranges {
		for a := r[0]; a < r[1]; a += page {
			if _, err := pm.ReadAt(entry, int64(a/page*8)); err != nil {
				return err
			}
			if binary.LittleEndian.Uint64(entry)&(1<<63) == 0 { // not present
				continue
			}
			pages++
			sec := section(a)
			bySection[sec] += page
			share, covered := map[string]uint64{}, uint64(0)
			for i := sort.Search(len(syms), func(i int) bool { return syms[i].addr+syms[i].size > a }); i < len(syms) && syms[i].addr < a+page; i++ {
				lo, hi := max(syms[i].addr, a), min(syms[i].addr+syms[i].size, a+page)
				if hi > lo {
					share[syms[i].group] += hi - lo
					covered += hi - lo
				}
			}
			if covered == 0 {
				byGroup["(no symbol: "+sec+")"] += page
				continue
			}
			for g, n := range share {
				byGroup[g] += page * float64(n) / float64(covered)
			}
		}
	}
	fmt.Fprintf(w, "resident pages of the binary: %.1f MiB\n\n| section | MiB |\n|---|---|\n", mib(float64(pages*page)))
	for _, k := range sorted(bySection) {
		fmt.Fprintf(w, "| %s | %.2f |\n", k, mib(bySection[k]))
	}
	fmt.Fprintf(w, "\n| package group | MiB |\n|---|---|\n")
	for i, k := range sorted(byGroup) {
		if i == top {
			break
		}
		fmt.Fprintf(w, "| %s | %.2f |\n", k, mib(byGroup[k]))
	}
	return nil
}

// mappings are pid's address ranges mapped from its executable.
func mappings(pid int) ([][2]uint64, error) {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return nil, err
	}
	mf, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer mf.Close()
	var out [][2]uint64
	sc := bufio.NewScanner(mf)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[5] != exe {
			continue
		}
		lo, hi, _ := strings.Cut(fs[0], "-")
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("maps line %q", sc.Text())
		}
		out = append(out, [2]uint64{l, h})
	}
	return out, sc.Err()
}

// group names a symbol's package, cut to depth path elements; the standard
// library is "std: <top package>", the linker's tables are theirs.
func group(sym string, depth int) string {
	switch {
	case strings.HasPrefix(sym, "type:"), strings.HasPrefix(sym, "go:"):
		return "(" + strings.SplitN(sym, ".", 2)[0] + ")"
	}
	slash := strings.LastIndex(sym, "/")
	dot := strings.Index(sym[slash+1:], ".")
	pkg := sym
	if dot >= 0 {
		pkg = sym[:slash+1+dot]
	}
	parts := strings.Split(pkg, "/")
	if !strings.Contains(parts[0], ".") {
		return "std: " + parts[0]
	}
	if len(parts) > depth {
		parts = parts[:depth]
	}
	return strings.Join(parts, "/")
}

func sorted(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	return keys
}

func mib(b float64) float64 { return b / (1 << 20) }
