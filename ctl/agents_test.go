package ctl_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/ctl"
	"github.com/tradepulse/secret-injector/internal/testkit"
)

// sentinel starts every secret value the agents serve: no output may
// contain it.
const sentinel = "SENTINEL-VALUE-do-not-print-"

// agentProc is `secret-injector agent --mode sidecar` running locally.
type agentProc struct {
	addr   string // admin API, 127.0.0.1:port
	dir    string // config, .env, secrets/
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *testkit.Buffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// envAgent starts an agent on the env backend holding the fixtures' two
// secrets (api-key, api-secret), with sentinel values.
func envAgent(t *testing.T) *agentProc {
	t.Helper()
	dir := t.TempDir()
	env := fmt.Sprintf("EXCHANGES_BINANCE_API_KEY=%[1]skey\nEXCHANGES_BINANCE_API_SECRET=%[1]ssecret\n", sentinel)
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	return startAgent(t, dir, fmt.Sprintf(`
backend:
  type: env
  env: {files: [%s/.env]}
secrets:
  - {name: api-key, ref: exchanges-binance-api-key}
  - {name: api-secret, ref: exchanges-binance-api-secret}
`, dir), nil)
}

// startAgent runs the real binary with body (backend and secrets) as its
// config, on free local ports, and waits until its admin API answers.
func startAgent(t *testing.T, dir, body string, env []string) *agentProc {
	t.Helper()
	b := needBed(t)
	a := &agentProc{addr: freeAddr(t), dir: dir, done: make(chan struct{}), stderr: &testkit.Buffer{}}
	cfg := fmt.Sprintf("version: secrets.tradepulse.io/v1\nmountPath: %s/secrets\nadminAddr: %s\nmetricsAddr: %s\n%s",
		dir, a.addr, freeAddr(t), body)
	cfgPath := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(b.binary, "agent", "--mode", "sidecar", "--config", cfgPath, "--log-format", "text")
	a.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	a.cmd.Stdout, a.cmd.Stderr = a.stderr, a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start agent: %v", err)
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("agent %s log:\n%s", a.addr, a.stderr)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + a.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a
			}
		}
		select {
		case <-a.done:
			t.Fatalf("agent exited at start:\n%s", a.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent admin API %s never answered: %v\n%s", a.addr, err, a.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the agent (SIGTERM, then SIGKILL) and waits for it.
func (a *agentProc) stop() {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// localDialer is the tests' Dialer: instead of a port-forward, it reaches
// the local agent process mapped to each pod, through a recording proxy
// that, like a port-forward, drops the connection when nothing listens.
type localDialer struct {
	mu     sync.Mutex
	cond   *sync.Cond
	agents map[string]string // namespace/pod → agent address
	// requests are "namespace/pod METHOD /path?query", in order.
	requests []string
	// active counts open dials; peak is its maximum.
	active, peak, dials int
	// holdFor, when set, makes each dial wait until holdFor dials are
	// open at once (or the last of total has begun, or 5s passed), so
	// that a concurrency limit is reached deterministically and one that
	// is not honoured shows in peak.
	holdFor, total int
}

var _ ctl.Dialer = (*localDialer)(nil)

func newLocalDialer() *localDialer {
	d := &localDialer{agents: map[string]string{}}
	d.cond = sync.NewCond(&d.mu)
	return d
}

func (d *localDialer) add(pod *corev1.Pod, addr string) { d.agents[pod.Namespace+"/"+pod.Name] = addr }

func (d *localDialer) Dial(ctx context.Context, pod *corev1.Pod) (string, func(), error) {
	key := pod.Namespace + "/" + pod.Name
	d.mu.Lock()
	addr, ok := d.agents[key]
	if !ok {
		d.mu.Unlock()
		return "", nil, fmt.Errorf("port-forward to pod %s: no agent process for this pod", key)
	}
	d.active++
	d.dials++
	d.peak = max(d.peak, d.active)
	d.cond.Broadcast()
	giveUp := time.Now().Add(5 * time.Second)
	wake := time.AfterFunc(5*time.Second, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.cond.Broadcast()
	})
	for d.holdFor > 0 && d.active < d.holdFor && d.dials < d.total && time.Now().Before(giveUp) {
		d.cond.Wait()
	}
	wake.Stop()
	d.mu.Unlock()

	target := &url.URL{Scheme: "http", Host: addr}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		// What a port-forward does when the pod's port is closed.
		if c, _, herr := w.(http.Hijacker).Hijack(); herr == nil {
			_ = c.Close()
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		line := key + " " + r.Method + " " + r.URL.Path
		if r.URL.RawQuery != "" {
			line += "?" + r.URL.RawQuery
		}
		d.requests = append(d.requests, line)
		d.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	closeFn := func() {
		srv.CloseClientConnections()
		srv.Close()
		d.mu.Lock()
		d.active--
		d.cond.Broadcast()
		d.mu.Unlock()
	}
	return srv.URL, closeFn, nil
}

// sent returns the requests with method (e.g. "POST").
func (d *localDialer) sent(method string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, r := range d.requests {
		if strings.Contains(r, " "+method+" ") {
			out = append(out, r)
		}
	}
	return out
}

// run runs one command as the README-role operator through kubeconfig.
func run(t *testing.T, d ctl.Dialer, now func() time.Time, verb string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := &ctl.Command{Stdout: &stdout, Stderr: &stderr, Dialer: d, Now: now}
	args = append([]string{"--kubeconfig", needBed(t).kubeconfig}, args...)
	err := c.Run(testContext(t), verb, args)
	r := result{stdout: stdout.String(), stderr: stderr.String(), err: err}
	for _, out := range []string{r.stdout, r.stderr, fmt.Sprint(r.err)} {
		if strings.Contains(out, sentinel) {
			t.Errorf("a secret value reached the output:\n%s", r)
		}
	}
	return r
}
