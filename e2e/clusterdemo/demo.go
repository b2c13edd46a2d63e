// Package clusterdemo walks through the operators' runbook on the real
// cluster (e2e/clusterbed): a Deployment annotated for the runbook's
// secrets, run by the kubelet; its files; a rotation that reaches the app
// and signals it; (with Vault) the app's PostgreSQL login and
// `secret-injector revoke`; an emergency revocation of an exchange key.
// `make demo` runs it through e2e/cmd/demo; the real-pods suite runs it
// too (TestDemo), so it cannot rot.
//
// It prints names, modes, hashes' prefixes, pod names and PostgreSQL user
// names, never a secret value.
package clusterdemo

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/clusterbed"
)

// Options tune Run.
type Options struct {
	// Out receives the walk-through; nil discards it.
	Out io.Writer
	// Backend is the pods' backend; empty picks vault when the bed has it,
	// else gcp.
	Backend string
	// Secret, when set, is called with every secret value the demo makes,
	// so that a caller can check that none is printed.
	Secret func(string)
}

// Demo is one walk-through: its namespace stays until the caller deletes
// it, so that an operator can look.
type Demo struct {
	c  *clusterbed.Cluster
	o  Options
	be bed.Backend
	rb bed.Runbook
	// Namespace holds the demo's Deployment.
	Namespace string
	pod       corev1.Pod
}

const app = "trading-engine"

// Run performs the walk-through on c. A failed check ends it with an error.
func Run(ctx context.Context, c *clusterbed.Cluster, o Options) (*Demo, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Secret == nil {
		o.Secret = func(string) {}
	}
	if o.Backend == "" {
		o.Backend = "gcp"
		if c.Bed.Vault != nil {
			o.Backend = "vault"
		}
	}
	be, ok := c.Bed.Backends[o.Backend]
	if !ok {
		return nil, fmt.Errorf("backend %q is not on this bed (it has %s)", o.Backend, strings.Join(slices.Sorted(maps.Keys(c.Bed.Backends)), ", "))
	}
	d := &Demo{c: c, o: o, be: be}
	for _, step := range []func(context.Context) error{d.bootstrap, d.rotation, d.database, d.emergency} {
		if err := step(ctx); err != nil {
			return d, err
		}
	}
	d.step("where to look")
	d.say("export KUBECONFIG=%s", c.Kubeconfig)
	d.say("kubectl -n %s get pods -o wide            # the app and its native sidecar, 2/2", d.Namespace)
	d.say("kubectl -n %s describe pod -l app=%s", d.Namespace, app)
	d.say("secret-injector status -n %s -l app=%s   # over a port-forward to each agent", d.Namespace, app)
	d.say("kubectl -n %s port-forward deploy/%s 9102:9102 && curl localhost:9102/metrics", d.Namespace, app)
	return d, nil
}

func (d *Demo) step(format string, args ...any) { fmt.Fprintf(d.o.Out, "\n==> "+format+"\n", args...) }
func (d *Demo) say(format string, args ...any)  { fmt.Fprintf(d.o.Out, "    "+format+"\n", args...) }
func (d *Demo) ok(format string, args ...any)   { fmt.Fprintf(d.o.Out, "    ok  "+format+"\n", args...) }

func (d *Demo) files(ctx context.Context) (map[string]clusterbed.AppFile, error) {
	return clusterbed.AppFiles(ctx, d.pod)
}

func (d *Demo) bootstrap(ctx context.Context) error {
	d.step("1. bootstrap: the runbook's secrets in %s, a Deployment that asks for them", d.be.Name())
	ns, err := d.c.NewNamespace(ctx, "demo")
	if err != nil {
		return err
	}
	d.Namespace = ns
	if d.rb, err = bed.ProvisionRunbook(ctx, d.be, "binance", d.o.Secret); err != nil {
		return err
	}
	ann := d.rb.Annotations(d.be, "2s")
	ann["reload"] = "signal:SIGHUP:" + clusterbed.AppName
	if d.be.Name() == "vault" {
		ann["secret-db"] = d.c.Bed.Vault.DBRef()
		ann["format-db"] = "json"
	}
	d.say("kubectl apply: Deployment %s/%s, pod template annotated (secrets.tradepulse.io/…):", ns, app)
	for _, k := range slices.Sorted(maps.Keys(ann)) {
		d.say("    %-24s %s", k, ann[k])
	}
	start := time.Now()
	pods, err := d.c.Deploy(ctx, clusterbed.Workload{Name: app, Namespace: ns, Backend: d.be, Annotations: ann}, 3*time.Minute)
	if err != nil {
		return err
	}
	d.pod = pods[0]
	d.ok("Deployment available in %s: the webhook injected the pod, the kubelet ran init → sidecar → app", time.Since(start).Round(100*time.Millisecond))
	out, _ := d.c.Kubectl(ctx, "-n", ns, "get", "pods", "-o", "wide")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		d.say("%s", l)
	}
	files, err := d.files(ctx)
	if err != nil {
		return err
	}
	d.say("what the app reads under %s (hashes, never values):", clusterbed.SecretsPath)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasPrefix(name, ".") {
			continue
		}
		f := files[name]
		d.say("    %-22s mode %s owner %d:%d sha256 %.12s…", name, f.Mode, f.UID, f.GID, f.SHA256)
	}
	for name, want := range d.rb.Files() {
		if files[name].SHA256 != clusterbed.SHA256(want.Data) {
			return fmt.Errorf("the app's %s does not hold the provisioned value", name)
		}
	}
	d.ok("every runbook file is there before the app started")
	return nil
}

func (d *Demo) rotation(ctx context.Context) error {
	d.step("2. rotation: a new api key in %s reaches the app, which is signalled", d.be.Name())
	rotated := "ak-rotated-" + bed.Token()
	d.o.Secret(rotated)
	if err := d.be.Put(ctx, d.rb.KeyPath(), []byte(rotated), false); err != nil {
		return err
	}
	start := time.Now()
	if err := clusterbed.Poll(ctx, 30*time.Second, func() (bool, error) {
		files, err := d.files(ctx)
		return err == nil && files[d.rb.KeyFile()].SHA256 == clusterbed.SHA256(rotated), nil
	}); err != nil {
		return fmt.Errorf("the rotated key never reached the app: %w", err)
	}
	d.ok("%s rewritten in %s (refresh interval 2s)", d.rb.KeyFile(), time.Since(start).Round(100*time.Millisecond))
	var hups struct {
		N int `json:"sighups"`
	}
	if err := clusterbed.Poll(ctx, 15*time.Second, func() (bool, error) {
		err := clusterbed.AppGet(ctx, d.pod, "/sighups", &hups)
		return err == nil && hups.N >= 1, nil
	}); err != nil {
		return fmt.Errorf("the app was never signalled: %w", err)
	}
	d.ok("the app got SIGHUP across the pod's shared PID namespace (%d so far)", hups.N)
	return nil
}

func (d *Demo) database(ctx context.Context) error {
	if d.be.Name() != "vault" {
		d.step("3. database credentials: skipped (backend %s; Vault's leases need backend vault)", d.be.Name())
		return nil
	}
	d.step("3. database credentials: Vault's dynamic PostgreSQL login, then `secret-injector revoke`")
	user := func() string {
		var r struct {
			User string `json:"current_user"`
		}
		if clusterbed.AppGet(ctx, d.pod, "/db?dir=db", &r) != nil {
			return ""
		}
		return r.User
	}
	first := user()
	if first == "" {
		return fmt.Errorf("the app cannot log into PostgreSQL with its credentials")
	}
	d.ok("the app logs into PostgreSQL as %s", first)
	d.say("$ secret-injector revoke -n %s -l app=%s", d.Namespace, app)
	out, err := d.c.CLI(ctx, "revoke", "-n", d.Namespace, "-l", "app="+app)
	if err != nil {
		return fmt.Errorf("secret-injector revoke: %w\n%s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		d.say("%s", l)
	}
	var second string
	if err := clusterbed.Poll(ctx, 30*time.Second, func() (bool, error) {
		second = user()
		return second != "" && second != first, nil
	}); err != nil {
		return fmt.Errorf("the app still logs in as %s", first)
	}
	d.ok("lease revoked, role %s dropped; the app now logs in as %s", first, second)
	return nil
}

func (d *Demo) emergency(ctx context.Context) error {
	d.step("4. emergency revocation: the exchange key deleted in %s", d.be.Name())
	if err := d.be.Delete(ctx, d.rb.KeyPath()); err != nil {
		return err
	}
	if err := clusterbed.Poll(ctx, 30*time.Second, func() (bool, error) {
		files, err := d.files(ctx)
		_, present := files[d.rb.KeyFile()]
		return err == nil && !present, nil
	}); err != nil {
		return fmt.Errorf("the deleted key stayed in the app's volume: %w", err)
	}
	d.ok("%s is gone from the app's volume (fail closed); the agent retries with backoff", d.rb.KeyFile())
	again := "ak-again-" + bed.Token()
	d.o.Secret(again)
	if err := d.be.Put(ctx, d.rb.KeyPath(), []byte(again), false); err != nil {
		return err
	}
	if err := clusterbed.Poll(ctx, 60*time.Second, func() (bool, error) {
		files, err := d.files(ctx)
		return err == nil && files[d.rb.KeyFile()].SHA256 == clusterbed.SHA256(again), nil
	}); err != nil {
		return fmt.Errorf("the re-provisioned key never came back: %w", err)
	}
	d.ok("provisioned again: %s is back", d.rb.KeyFile())
	return nil
}
