// Package demo walks through the operators' runbook on a running e2e bed,
// saying what it does, what it checks and where to look: a pod annotated
// for the runbook's secrets is injected by the webhook and run by the pod
// runner; its files are checked before the app starts; a rotation, (with
// Vault) a database lease renewal and revocation, and an emergency
// revocation of an exchange key follow. `make demo` runs it through
// e2e/cmd/demo; the e2e suite runs it too (TestDemo), so it cannot rot.
//
// It prints names, paths, modes, sizes, lease ids and PostgreSQL user
// names, never a secret value.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/agent/backend/gcp"
	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/podrunner"
)

// Options tune Run.
type Options struct {
	// Out receives the walk-through; nil discards it.
	Out io.Writer
	// Backend is the pods' backend; empty picks vault when the bed has
	// it (it shows Kubernetes auth and database leases), else gcp.
	Backend string
	// Interval is the pods' refresh interval; 0 is 2s.
	Interval time.Duration
	// Secret, when set, is called with every secret value the demo makes
	// or reads, so that a caller can check that none is printed.
	Secret func(string)
}

// Demo holds what Run left running: the pods, until Close.
type Demo struct {
	b    *bed.Bed
	o    Options
	be   bed.Backend
	ns   string
	rb   bed.Runbook
	pods []*podrunner.Pod
	apps []*podrunner.App
	// first is the runbook pod.
	first    *podrunner.Pod
	firstApp *podrunner.App
	// Where to look, for the closing lines.
	metricsURL, adminURL, files string
}

// Close stops the demo's pods.
func (d *Demo) Close() {
	for _, p := range d.pods {
		p.Stop()
	}
	for _, a := range d.apps {
		a.Close()
	}
}

// Logs are the demo pods' agent logs.
func (d *Demo) Logs() string {
	var b strings.Builder
	for _, p := range d.pods {
		b.WriteString(p.Logs())
	}
	return b.String()
}

// Run performs the walk-through on b and returns with the runbook pod still
// running (Close stops it). A failed check ends it with an error.
func Run(ctx context.Context, b *bed.Bed, o Options) (*Demo, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Interval == 0 {
		o.Interval = 2 * time.Second
	}
	if o.Secret == nil {
		o.Secret = func(string) {}
	}
	if o.Backend == "" {
		o.Backend = "gcp"
		if b.Vault != nil {
			o.Backend = "vault"
		}
	}
	be, ok := b.Backends[o.Backend]
	if !ok {
		return nil, fmt.Errorf("backend %q is not on this bed (it has %s)", o.Backend, strings.Join(slices.Sorted(maps.Keys(b.Backends)), ", "))
	}
	d := &Demo{b: b, o: o, be: be}
	for _, step := range []func(context.Context) error{d.bootstrap, d.rotation, d.database, d.emergency} {
		if err := step(ctx); err != nil {
			return d, err
		}
	}
	d.whereToLook()
	return d, nil
}

func (d *Demo) step(format string, args ...any) {
	fmt.Fprintf(d.o.Out, "\n==> "+format+"\n", args...)
}

func (d *Demo) say(format string, args ...any) {
	fmt.Fprintf(d.o.Out, "    "+format+"\n", args...)
}

func (d *Demo) ok(format string, args ...any) {
	fmt.Fprintf(d.o.Out, "    ok  "+format+"\n", args...)
}

// operator says what an operator would type to change a secret.
func (d *Demo) operator(verb, path string) string {
	switch d.be.Name() {
	case "vault":
		path = d.be.Ref(path, true) // under the bed's KV mount
		if verb == "delete" {
			return "vault kv metadata delete " + path
		}
		return "vault kv put " + path
	case "gcp":
		if id, err := gcp.SecretID(path); err == nil {
			path = id
		}
		if verb == "delete" {
			return "gcloud secrets delete " + path
		}
		return "gcloud secrets versions add " + path
	case "aws":
		if verb == "delete" {
			return "aws secretsmanager delete-secret --force-delete-without-recovery --secret-id " + path
		}
		return "aws secretsmanager put-secret-value --secret-id " + path
	}
	if verb == "delete" {
		return "remove " + bed.VarName(path) + " from .env"
	}
	return "set " + bed.VarName(path) + " in .env"
}

func (d *Demo) startPod(ctx context.Context, name string, ann map[string]string) (*podrunner.Pod, *podrunner.App, error) {
	app, err := podrunner.NewApp()
	if err != nil {
		return nil, nil, err
	}
	d.apps = append(d.apps, app)
	p, err := d.b.RunPod(ctx, bed.PodSpec{Name: name, Namespace: d.ns, Annotations: ann}, d.be, app)
	if err != nil {
		return nil, nil, err
	}
	d.pods = append(d.pods, p)
	return p, app, nil
}

// --- 1. bootstrap

func (d *Demo) bootstrap(ctx context.Context) error {
	d.step("1. bootstrap: the runbook's secrets in %s, a pod that asks for them", d.be.Name())
	ns, err := d.b.NewNamespace(ctx, "demo")
	if err != nil {
		return err
	}
	d.ns = ns
	if d.rb, err = bed.ProvisionRunbook(ctx, d.be, "binance", d.o.Secret); err != nil {
		return err
	}
	for _, p := range []string{"tradepulse/postgres-tls", d.rb.KeyPath(), d.rb.SecretPath(), "tradepulse/mlflow", "tradepulse/wandb"} {
		d.say("%s", d.operator("put", p))
	}
	ann := d.rb.Annotations(d.be, d.o.Interval.String())
	if d.be.Name() == "vault" {
		ann["secret-db"] = d.b.Vault.DBRef()
		ann["format-db"] = "json"
	}
	d.say("kubectl apply: pod %s/trading-engine with these annotations (secrets.tradepulse.io/…):", d.ns)
	for _, k := range slices.Sorted(maps.Keys(ann)) {
		d.say("    %-28s %s", k, ann[k])
	}
	start := time.Now()
	p, app, err := d.startPod(ctx, "trading-engine", ann)
	if err != nil {
		return err
	}
	d.first, d.firstApp = p, app
	spec := p.Spec().Spec
	var inits, vols []string
	for _, c := range spec.InitContainers {
		inits = append(inits, c.Name)
	}
	for _, v := range spec.Volumes {
		vols = append(vols, v.Name)
	}
	d.say("the webhook added init containers [%s] (the second is the native sidecar), volumes [%s]",
		strings.Join(inits, ", "), strings.Join(vols, ", "))
	if err := p.WaitRunning(90 * time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, p.Logs())
	}
	d.ok("init container exited 0, sidecar ready, app started: %s after kubectl apply", time.Since(start).Round(10*time.Millisecond))
	got, err := app.FilesAtStart()
	if err != nil {
		return err
	}
	want := d.rb.Files()
	d.say("the app found at start (%s):", d.first.SecretsDir())
	for _, name := range slices.Sorted(maps.Keys(got)) {
		f := got[name]
		d.say("    %s %5d bytes  %s", f.Mode, len(f.Data), name)
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g.Mode != w.Mode || g.Data != w.Data {
			return fmt.Errorf("the app did not find %s with mode %s and its value", name, w.Mode)
		}
	}
	d.ok("every runbook file with its content and mode before the app started: the TLS JSON split into postgres-tls/{ca.crt,tls.crt,tls.key} (0440), the exchange keys and env files (0400)")
	if d.be.Name() == "vault" {
		if _, ok := got["db/username"]; !ok {
			return errors.New("the app did not find db/username")
		}
		d.ok("database credentials in db/username and db/password: the agent logged into Vault with the pod's own service-account token (Kubernetes auth; Vault checked it with a TokenReview)")
	}
	sc := p.Container("secret-injector-agent")
	d.metricsURL = "http://" + sc.MetricsAddr + "/metrics"
	d.adminURL = "http://" + sc.AdminAddr + "/v1/status"
	d.files = p.SecretsDir()
	for _, s := range []string{"postgres-tls", d.rb.KeyFile(), "mlflow.env", "wandb.env"} {
		if v, err := d.metric(ctx, "secret_rotation_status", s); err != nil || v != 1 {
			return fmt.Errorf("secret_rotation_status{secret=%q} = %v (%v), want 1", s, v, err)
		}
	}
	d.ok("secret_rotation_status = 1 for every secret (%s)", d.metricsURL)
	return nil
}

func (d *Demo) metric(ctx context.Context, name, secret string) (float64, error) {
	v, ok, err := d.first.Container("secret-injector-agent").Metric(ctx, name, map[string]string{"secret": secret})
	if err != nil {
		return 0, err
	}
	if !ok {
		return -1, nil
	}
	return v, nil
}

// --- 2. rotation

func (d *Demo) rotation(ctx context.Context) error {
	d.step("2. rotation: a new version of the %s api key", d.rb.Venue)
	keyFile := d.rb.KeyFile()
	before, err := d.metric(ctx, "secret_last_success_timestamp_seconds", keyFile)
	if err != nil {
		return err
	}
	reloads := d.firstApp.Reloads()
	rotated := "ak2-" + bed.Token()
	d.o.Secret(rotated)
	if err := d.be.Put(ctx, d.rb.KeyPath(), []byte(rotated), false); err != nil {
		return err
	}
	putAt := time.Now()
	d.say("%s (refresh interval %s)", d.operator("put", d.rb.KeyPath()), d.o.Interval)
	file := filepath.Join(d.files, keyFile)
	if err := bed.Wait(ctx, d.o.Interval*2+5*time.Second, func() (bool, error) {
		b, err := os.ReadFile(file)
		return err == nil && string(b) == rotated, nil
	}); err != nil {
		return fmt.Errorf("the rotated key never reached %s: %w", file, err)
	}
	d.ok("%s rewritten %s after the backend changed", keyFile, time.Since(putAt).Round(10*time.Millisecond))
	if err := bed.Wait(ctx, 15*time.Second, func() (bool, error) { return d.firstApp.Reloads() > reloads, nil }); err != nil {
		return fmt.Errorf("the app was not told: %w", err)
	}
	d.ok("the app was told: POST %s (after the agent's 2s debounce), %d call", podrunner.ReloadPath, d.firstApp.Reloads()-reloads)
	status, err := d.metric(ctx, "secret_rotation_status", keyFile)
	if err != nil || status != 1 {
		return fmt.Errorf("secret_rotation_status = %v (%v) after rotation, want 1", status, err)
	}
	after, err := d.metric(ctx, "secret_last_success_timestamp_seconds", keyFile)
	if err != nil || after <= before {
		return fmt.Errorf("secret_last_success_timestamp_seconds did not move (%v, then %v; %v)", before, after, err)
	}
	d.ok("secret_rotation_status{secret=%q} = 1, secret_last_success_timestamp_seconds moved %.1fs: what the dashboard \"Secrets / Refresh Status\" shows", keyFile, after-before)
	return nil
}

// --- 3. dynamic database credentials

func (d *Demo) status(ctx context.Context, secret string) (admin.SecretStatus, error) {
	code, body, err := d.first.Container("secret-injector-agent").Admin(ctx, http.MethodGet, "/v1/status")
	if err != nil {
		return admin.SecretStatus{}, err
	}
	if code != http.StatusOK {
		return admin.SecretStatus{}, fmt.Errorf("GET /v1/status: %d", code)
	}
	var st admin.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return admin.SecretStatus{}, err
	}
	for _, s := range st.Secrets {
		if s.Name == secret {
			return s, nil
		}
	}
	return admin.SecretStatus{}, fmt.Errorf("GET /v1/status has no secret %q", secret)
}

func (d *Demo) login() (user, password string, err error) {
	files, err := podrunner.ReadSecrets(d.files)
	if err != nil {
		return "", "", err
	}
	user, password = files["db/username"].Data, files["db/password"].Data
	if user == "" || password == "" {
		return "", "", errors.New("no db/username and db/password in the volume")
	}
	d.o.Secret(password)
	return user, password, nil
}

func (d *Demo) database(ctx context.Context) error {
	if d.be.Name() != "vault" {
		d.step("3. dynamic database credentials: Vault only (this demo runs on %s)", d.be.Name())
		return nil
	}
	v := d.b.Vault
	d.step("3. dynamic database credentials: %s (TTL %s, max TTL %s)", v.DBRef(), bed.DBDefaultTTL, bed.DBMaxTTL)
	st, err := d.status(ctx, "db")
	if err != nil {
		return err
	}
	if st.Lease == nil {
		return errors.New("GET /v1/status shows no lease for db")
	}
	user, pass, err := d.login()
	if err != nil {
		return err
	}
	if err := v.Env.PGLogin(ctx, user, pass); err != nil {
		return fmt.Errorf("the agent's credentials do not log into PostgreSQL: %w", err)
	}
	d.ok("PostgreSQL login as %s works; lease %s expires %s", user, st.Lease.ID, st.Lease.Expiry.Format(time.TimeOnly))
	lease, expiry := st.Lease.ID, st.Lease.Expiry
	var renewed time.Time
	if err := bed.Wait(ctx, bed.DBDefaultTTL+5*time.Second, func() (bool, error) {
		s, err := d.status(ctx, "db")
		if err != nil {
			return false, err
		}
		if s.Lease != nil && s.Lease.ID == lease && s.Lease.Expiry.After(expiry.Add(time.Second)) {
			renewed = s.Lease.Expiry
			return true, nil
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("the lease was not renewed: %w", err)
	}
	if u, _, err := d.login(); err != nil || u != user {
		return fmt.Errorf("renewal changed the credentials (%v)", err)
	}
	d.ok("lease renewed at about 2/3 of its TTL: same lease and login, expiry now %s", renewed.Format(time.TimeOnly))

	reloads := d.firstApp.Reloads()
	d.say("emergency: POST %s/v1/leases/revoke?secret=db (what `secret-injector revoke -l app=… --secret db` does through port-forward)", "http://"+d.first.Container("secret-injector-agent").AdminAddr)
	code, body, err := d.first.Container("secret-injector-agent").Admin(ctx, http.MethodPost, "/v1/leases/revoke?secret=db")
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("POST /v1/leases/revoke: %d %v", code, err)
	}
	var res admin.RevokeResult
	if err := json.Unmarshal([]byte(body), &res); err != nil || len(res.Revoked) != 1 {
		return fmt.Errorf("POST /v1/leases/revoke answered %d revocations (%v)", len(res.Revoked), err)
	}
	d.say("answer: revoked %s, replaced by %s", res.Revoked[0].RevokedLease, res.Revoked[0].NewLease)
	if err := v.Env.PGLogin(ctx, user, pass); err == nil {
		return fmt.Errorf("the revoked login %s still works", user)
	}
	d.ok("the old login %s is refused by PostgreSQL", user)
	user2, pass2, err := d.login()
	if err != nil {
		return err
	}
	if err := v.Env.PGLogin(ctx, user2, pass2); err != nil || user2 == user {
		return fmt.Errorf("the new credentials do not log in as a new user (%v)", err)
	}
	d.ok("the new login %s works", user2)
	if err := bed.Wait(ctx, 15*time.Second, func() (bool, error) { return d.firstApp.Reloads() > reloads, nil }); err != nil {
		return fmt.Errorf("the app was not told of the new credentials: %w", err)
	}
	d.ok("the app was told")
	return nil
}

// --- 4. emergency revocation of an exchange key

func (d *Demo) emergency(ctx context.Context) error {
	d.step("4. emergency revocation of the %s exchange key", d.rb.Venue)
	keyFile := d.rb.KeyFile()
	file := filepath.Join(d.files, keyFile)
	if err := d.be.Delete(ctx, d.rb.KeyPath()); err != nil {
		return err
	}
	at := time.Now()
	d.say("%s", d.operator("delete", d.rb.KeyPath()))
	if err := bed.Wait(ctx, d.o.Interval*2+5*time.Second, func() (bool, error) {
		_, err := os.Lstat(file)
		v, merr := d.metric(ctx, "secret_rotation_status", keyFile)
		return errors.Is(err, fs.ErrNotExist) && merr == nil && v == 0, nil
	}); err != nil {
		return fmt.Errorf("the revoked key's file stayed or its status did not drop: %w", err)
	}
	d.ok("%s removed (fail closed) %s later; secret_rotation_status{secret=%q} = 0 (the alert fires)", keyFile, time.Since(at).Round(10*time.Millisecond), keyFile)

	second, app2, err := d.startPod(ctx, "trading-engine-2", d.rb.Annotations(d.be, d.o.Interval.String()))
	if err != nil {
		return err
	}
	d.say("a new pod %s/trading-engine-2 is created (a rollout, a reschedule)…", d.ns)
	hold := time.Now().Add(3 * time.Second)
	for time.Now().Before(hold) {
		if app2.Started() {
			return errors.New("the new pod's app started without its exchange key")
		}
		if _, err := second.Phase(); err != nil {
			return fmt.Errorf("the new pod's init gave up: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	ph, _ := second.Phase()
	d.ok("…and is held in %s: its init container retries with backoff, its app has not started (fails closed)", ph)

	restored := "ak3-" + bed.Token()
	d.o.Secret(restored)
	if err := d.be.Put(ctx, d.rb.KeyPath(), []byte(restored), false); err != nil {
		return err
	}
	at = time.Now()
	d.say("%s (re-provisioned with a new key)", d.operator("put", d.rb.KeyPath()))
	if err := second.WaitRunning(60 * time.Second); err != nil {
		return err
	}
	if f, _ := app2.FilesAtStart(); f[keyFile].Data != restored {
		return errors.New("the new pod started without the re-provisioned key")
	}
	d.ok("the new pod started %s later, with the new key", time.Since(at).Round(10*time.Millisecond))
	if err := bed.Wait(ctx, d.o.Interval*2+10*time.Second, func() (bool, error) {
		b, err := os.ReadFile(file)
		v, merr := d.metric(ctx, "secret_rotation_status", keyFile)
		return err == nil && string(b) == restored && merr == nil && v == 1, nil
	}); err != nil {
		return fmt.Errorf("the first pod did not recover: %w", err)
	}
	d.ok("the first pod recovered: %s back, secret_rotation_status = 1", keyFile)
	return nil
}

func (d *Demo) whereToLook() {
	d.step("where to look (pod %s/trading-engine)", d.ns)
	d.say("metrics:  curl -s %s | grep ^secret_", d.metricsURL)
	d.say("status:   curl -s %s", d.adminURL)
	d.say("files:    ls -lR %s", d.files)
	d.say("webhook:  curl -s %s | grep ^secret_injector", d.b.WebhookMetricsURL)
}
