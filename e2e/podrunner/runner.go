// Package podrunner plays the kubelet for one pod of the e2e suite: it
// reads the mutated pod back from the API server, gives its volumes local
// directories, and runs the injected agent containers as local processes of
// the real agent binary (secret-injector-agent) with the command, args and environment
// of the spec — init containers in order, each exiting 0 before the next;
// native sidecars (restartPolicy Always) started and held until their
// startup probe passes — and only then starts the "app" (an App).
//
// The one thing it does that a kubelet would not: containers here share
// the host's file system and network, so it rewrites the agent config in
// SECRET_INJECTOR_CONFIG — the mount path, token path and .env paths to the
// volumes' local directories, and adminAddr/metricsAddr to free loopback
// ports. Nothing else of the spec is changed, and nothing of the runner's
// own environment is passed on (only PATH, HOME and Options.Env).
package podrunner

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tradepulse/secret-injector/internal/testkit"
)

// Options say how to run pods.
type Options struct {
	Client kubernetes.Interface
	// Binary is the agent binary (secret-injector-agent, or the full
	// secret-injector) standing in for the agent image.
	Binary string
	// Env is added to every agent process's environment: what the platform
	// provides outside the spec (AWS credentials that IRSA would give).
	Env []string
	// InitTimeout bounds a run-to-completion init container; 0 is 3 min.
	InitTimeout time.Duration
}

// Container is one started container of the pod.
type Container struct {
	Name        string
	Proc        *testkit.Process
	AdminAddr   string
	MetricsAddr string
	// env is the process's environment, which an exec hook shares.
	env []string
}

// Pod is a pod being run.
type Pod struct {
	o    Options
	spec *corev1.Pod
	app  *App
	dir  string

	volumes map[string]string
	stopped chan struct{}
	done    chan struct{} // the start sequence has ended

	mu         sync.Mutex
	containers []*Container
	phase      string
	err        error
}

// Start reads pod ns/name from the API server and runs it in the
// background: Phase and WaitRunning follow it. Stop it when done.
func Start(ctx context.Context, o Options, ns, name string, app *App) (*Pod, error) {
	if o.InitTimeout == 0 {
		o.InitTimeout = 3 * time.Minute
	}
	spec, err := o.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get pod %s/%s: %w", ns, name, err)
	}
	dir, err := os.MkdirTemp("", "pod-"+name+"-")
	if err != nil {
		return nil, err
	}
	p := &Pod{o: o, spec: spec, app: app, dir: dir, stopped: make(chan struct{}), done: make(chan struct{}), phase: "Pending"}
	if err := p.setupVolumes(ctx); err != nil {
		p.Stop()
		return nil, err
	}
	go p.run()
	return p, nil
}

// Spec is the mutated pod as the API server stored it.
func (p *Pod) Spec() *corev1.Pod { return p.spec }

func (p *Pod) run() {
	defer close(p.done)
	err := p.runContainers()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.phase, p.err = "Failed", err
		return
	}
	p.phase = "Running"
}

func (p *Pod) setPhase(s string) {
	p.mu.Lock()
	p.phase = s
	p.mu.Unlock()
}

func (p *Pod) runContainers() error {
	inits := p.spec.Spec.InitContainers
	for i := range inits {
		c := &inits[i]
		p.setPhase(fmt.Sprintf("Init:%d/%d (%s)", i, len(inits), c.Name))
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			if err := p.startSidecar(c); err != nil {
				return err
			}
			continue
		}
		if err := p.runToCompletion(c); err != nil {
			return err
		}
	}
	for i := range p.spec.Spec.Containers {
		c := &p.spec.Spec.Containers[i]
		if isAgent(c) { // a classic sidecar
			if _, err := p.startContainer(c); err != nil {
				return err
			}
			continue
		}
	}
	// The app containers: the App reads the secrets volume where the first
	// app container mounts it.
	if p.app != nil {
		dir, err := p.appSecretsDir()
		if err != nil {
			return err
		}
		p.app.start(dir)
	}
	return nil
}

// isAgent tells the injected agent containers by their command.
func isAgent(c *corev1.Container) bool {
	return len(c.Args) > 0 && c.Args[0] == "agent"
}

func (p *Pod) runToCompletion(c *corev1.Container) error {
	ct, err := p.startContainer(c)
	if err != nil {
		return err
	}
	select {
	case <-ct.Proc.Done():
	case <-p.stopped:
		return fmt.Errorf("init container %s: pod stopped", c.Name)
	case <-time.After(p.o.InitTimeout):
		ct.Proc.Stop(5 * time.Second)
		return fmt.Errorf("init container %s did not finish in %s", c.Name, p.o.InitTimeout)
	}
	if code := ct.Proc.ExitCode(); code != 0 {
		return fmt.Errorf("init container %s exited %d", c.Name, code)
	}
	return nil
}

func (p *Pod) startSidecar(c *corev1.Container) error {
	ct, err := p.startContainer(c)
	if err != nil {
		return err
	}
	if h := c.Lifecycle; h != nil && h.PostStart != nil && h.PostStart.Exec != nil {
		return p.runPostStart(c, ct, h.PostStart.Exec.Command)
	}
	pr := c.StartupProbe
	if pr == nil || pr.HTTPGet == nil {
		return nil
	}
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	url := "http://" + ct.MetricsAddr + pr.HTTPGet.Path
	client := &http.Client{Timeout: time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second}
	for i := int32(0); i < max(pr.FailureThreshold, 1); i++ {
		if done, _ := ct.Proc.Exited(); done {
			return fmt.Errorf("sidecar %s exited %d before its startup probe passed", c.Name, ct.Proc.ExitCode())
		}
		if r, err := client.Get(url); err == nil {
			r.Body.Close()
			if r.StatusCode >= 200 && r.StatusCode < 400 {
				return nil
			}
		}
		select {
		case <-p.stopped:
			return fmt.Errorf("sidecar %s: pod stopped", c.Name)
		case <-time.After(period):
		}
	}
	return fmt.Errorf("sidecar %s: startup probe %s failed %d times", c.Name, pr.HTTPGet.Path, pr.FailureThreshold)
}

// runPostStart runs a sidecar's postStart exec hook as the kubelet does:
// in the container's environment, holding back every container after it
// until it returns; a hook that fails fails the start. Only the agent's
// own binary can run here.
func (p *Pod) runPostStart(c *corev1.Container, ct *Container, command []string) error {
	if len(command) == 0 || command[0] != c.Command[0] {
		return fmt.Errorf("sidecar %s: postStart hook %q does not run the agent binary", c.Name, command)
	}
	hook, err := testkit.StartGroup(p.spec.Name+"/"+c.Name+"/postStart", p.o.Binary, command[1:], ct.env, p.dir)
	if err != nil {
		return err
	}
	select {
	case <-hook.Done():
	case <-p.stopped:
		hook.Stop(time.Second)
		return fmt.Errorf("sidecar %s: pod stopped", c.Name)
	}
	if code := hook.ExitCode(); code != 0 {
		return fmt.Errorf("sidecar %s: postStart hook exited %d: %s", c.Name, code, hook.Output())
	}
	return nil
}

func (p *Pod) startContainer(c *corev1.Container) (*Container, error) {
	if !isAgent(c) {
		return nil, fmt.Errorf("container %s: only the injected agent containers run here", c.Name)
	}
	env := append(baseEnv(), p.o.Env...)
	ct := &Container{Name: c.Name}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			return nil, fmt.Errorf("container %s: env %s from a reference is not supported", c.Name, e.Name)
		}
		v := e.Value
		if e.Name == configEnvVar {
			var err error
			if v, ct.AdminAddr, ct.MetricsAddr, err = p.rewriteConfig(c, v); err != nil {
				return nil, fmt.Errorf("container %s: %w", c.Name, err)
			}
		}
		env = append(env, e.Name+"="+v)
	}
	ct.env = env
	args := append(append([]string{}, c.Command[min(len(c.Command), 1):]...), c.Args...)
	// Under the lock, and only while the pod is not stopped: Stop takes its
	// list of processes under the same lock, so none starts behind it.
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stopped:
		return nil, fmt.Errorf("container %s: pod stopped", c.Name)
	default:
	}
	pr, err := testkit.StartGroup(p.spec.Name+"/"+c.Name, p.o.Binary, args, env, p.dir)
	if err != nil {
		return nil, err
	}
	ct.Proc = pr
	p.containers = append(p.containers, ct)
	return ct, nil
}

func (p *Pod) appSecretsDir() (string, error) {
	for i := range p.spec.Spec.Containers {
		c := &p.spec.Spec.Containers[i]
		if isAgent(c) {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == SecretsVolume {
				return p.hostPath(c, m.MountPath)
			}
		}
	}
	return "", fmt.Errorf("no app container mounts %s", SecretsVolume)
}

// SecretsVolume is the injected secrets volume.
const SecretsVolume = "secret-injector-secrets"

// SecretsDir is the local directory of the secrets volume.
func (p *Pod) SecretsDir() string { return p.volumes[SecretsVolume] }

// Phase is "Pending", "Init:i/n (name)" while container i starts,
// "Running", or "Failed".
func (p *Pod) Phase() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.phase, p.err
}

// WaitRunning waits until the app has started, or the start failed, or
// timeout passed.
func (p *Pod) WaitRunning(timeout time.Duration) error {
	select {
	case <-p.done:
	case <-time.After(timeout):
		ph, _ := p.Phase()
		return fmt.Errorf("pod %s not running after %s: %s", p.spec.Name, timeout, ph)
	}
	_, err := p.Phase()
	if err != nil {
		return fmt.Errorf("pod %s failed: %w", p.spec.Name, err)
	}
	return nil
}

// Container returns the started container name, or nil.
func (p *Pod) Container(name string) *Container {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.containers) - 1; i >= 0; i-- {
		if p.containers[i].Name == name {
			return p.containers[i]
		}
	}
	return nil
}

// Stop ends every process (the latest first) and removes the volumes.
func (p *Pod) Stop() {
	p.mu.Lock()
	select {
	case <-p.stopped:
		p.mu.Unlock()
		return
	default:
		close(p.stopped)
	}
	cs := append([]*Container(nil), p.containers...)
	p.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].Proc.Stop(10 * time.Second)
	}
	_ = os.RemoveAll(p.dir)
}

// Logs is every container's output, labelled.
func (p *Pod) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, c := range p.containers {
		fmt.Fprintf(&b, "--- %s (exited: %v) ---\n%s", c.Proc.Name, c.Proc.ExitCode() >= 0, c.Proc.Output())
	}
	return b.String()
}

func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
}
