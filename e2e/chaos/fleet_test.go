package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tradepulse/secret-injector/ctl"
	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/clusterbed"
)

// fleet is a Deployment of the test app whose pods hold a Vault KV secret
// (api, polled every 2 s, so that every fault meets many requests) and
// dynamic PostgreSQL credentials (db, a renewed lease); newFleet returns
// it deployed, its apps logged into PostgreSQL.
type fleet struct {
	s                *suite
	ns, name, kvPath string
	replicas         int
	started          time.Time
	// value is the api secret's current value.
	value string
	// running are the pods once deployed, users their apps' PostgreSQL
	// users then.
	running []corev1.Pod
	users   []string
}

func (s *suite) newFleet(t *testing.T, ctx context.Context, prefix string, replicas int, more map[string]string) *fleet {
	t.Helper()
	ns := s.newNamespace(t, prefix)
	f := &fleet{s: s, ns: ns, name: "ledger", kvPath: "chaos/" + ns + "/api", replicas: replicas, started: time.Now()}
	f.put(t, ctx)
	vb := s.Bed.Backends["vault"]
	ann := map[string]string{
		"secret-api": vb.Ref(f.kvPath, false), "refresh-interval": "2s",
		"secret-db": s.Bed.Vault.DBRef(), "format-db": "json",
	}
	for k, v := range more {
		ann[k] = v
	}
	w := clusterbed.Workload{Name: f.name, Namespace: ns, Backend: vb, Annotations: ann, Replicas: int32(replicas)}
	if _, err := s.Deploy(ctx, w, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	f.running = f.pods(t, ctx)
	f.users, _ = f.waitDB(t, ctx, f.running, time.Minute)
	return f
}

// put writes a new value of the api secret.
func (f *fleet) put(t *testing.T, ctx context.Context) {
	t.Helper()
	v := f.s.secret("chaos-" + bed.Token())
	if err := f.s.Bed.Backends["vault"].Put(ctx, f.kvPath, []byte(v), false); err != nil {
		t.Fatal(err)
	}
	f.value = v
}

func (f *fleet) pods(t *testing.T, ctx context.Context) []corev1.Pod {
	t.Helper()
	pods := f.s.podsOf(t, ctx, f.ns, f.name)
	if len(pods) != f.replicas {
		t.Fatalf("%d pods of %s running, want %d", len(pods), f.name, f.replicas)
	}
	return pods
}

// apiHeld says why a pod's api file is not value, or nil when every pod's is.
func apiHeld(ctx context.Context, pods []corev1.Pod, value string) error {
	want := clusterbed.SHA256(value)
	for _, p := range pods {
		files, err := clusterbed.AppFiles(ctx, p)
		if err != nil {
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
		switch f, ok := files["api"]; {
		case !ok:
			return fmt.Errorf("pod %s: api file missing", p.Name)
		case f.Error != "":
			return fmt.Errorf("pod %s: api file: %s", p.Name, f.Error)
		case f.SHA256 != want:
			return fmt.Errorf("pod %s: api file is not the expected value", p.Name)
		}
	}
	return nil
}

// watch samples every pod's api file every 2 s until ctx ends: it must
// keep value (the last good one), and the app must not restart. It
// returns the samples taken and what went wrong.
func (f *fleet) watch(ctx context.Context, pods []corev1.Pod, value string) (samples int, bad []string) {
	for {
		select {
		case <-ctx.Done():
			return samples, bad
		case <-time.After(2 * time.Second):
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := apiHeld(sctx, pods, value)
		cancel()
		if ctx.Err() != nil {
			return samples, bad
		}
		samples++
		if err != nil {
			bad = append(bad, err.Error())
		}
	}
}

// waitAPI puts a new api value and returns how long every pod took to
// hold it.
func (f *fleet) waitAPI(t *testing.T, ctx context.Context, pods []corev1.Pod, timeout time.Duration) time.Duration {
	t.Helper()
	f.put(t, ctx)
	start := time.Now()
	var last error
	err := clusterbed.Poll(ctx, timeout, func() (bool, error) {
		last = apiHeld(ctx, pods, f.value)
		return last == nil, nil
	})
	if err != nil {
		t.Errorf("a new api value did not reach every pod within %s: %v", timeout, last)
	}
	return time.Since(start).Round(100 * time.Millisecond)
}

// dbUsers asks each pod's app to log into PostgreSQL with the credentials
// in its db file, and returns the users.
func dbUsers(ctx context.Context, pods []corev1.Pod) ([]string, error) {
	var users []string
	for _, p := range pods {
		var r struct {
			User string `json:"current_user"`
		}
		if err := clusterbed.AppGet(ctx, p, "/db?dir=db", &r); err != nil {
			return nil, fmt.Errorf("pod %s cannot log into PostgreSQL: %w", p.Name, err)
		}
		users = append(users, r.User)
	}
	return users, nil
}

// waitDB waits until every pod's app logs into PostgreSQL.
func (f *fleet) waitDB(t *testing.T, ctx context.Context, pods []corev1.Pod, timeout time.Duration) ([]string, time.Duration) {
	t.Helper()
	start := time.Now()
	var users []string
	var last error
	err := clusterbed.Poll(ctx, timeout, func() (bool, error) {
		users, last = dbUsers(ctx, pods)
		return last == nil, nil
	})
	if err != nil {
		t.Errorf("the app could not log into PostgreSQL within %s: %v", timeout, last)
	}
	return users, time.Since(start).Round(100 * time.Millisecond)
}

// status is the operator's `secret-injector status -o json` of the fleet.
func (f *fleet) status(ctx context.Context) (*ctl.Report, error) {
	out, err := f.s.CLI(ctx, "status", "-n", f.ns, "-l", "app="+f.name, "-o", "json")
	// The JSON report, then the summary line (stderr).
	var rep ctl.Report
	if jerr := json.NewDecoder(strings.NewReader(out)).Decode(&rep); jerr != nil {
		return nil, fmt.Errorf("secret-injector status: %v: %s", err, out)
	}
	return &rep, nil
}

// waitStatusOK waits until the operator's status shows every secret of
// every pod OK.
func (f *fleet) waitStatusOK(t *testing.T, ctx context.Context, timeout time.Duration) {
	t.Helper()
	var last string
	err := clusterbed.Poll(ctx, timeout, func() (bool, error) {
		rep, err := f.status(ctx)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, p := range rep.Pods {
			if p.Status == nil {
				last = p.Pod + ": " + p.Detail
				return false, nil
			}
			for _, sec := range p.Status.Secrets {
				if !sec.OK {
					last = fmt.Sprintf("%s: %s not ok: %s", p.Pod, sec.Name, sec.LastError)
					return false, nil
				}
			}
		}
		return len(rep.Pods) == f.replicas, nil
	})
	if err != nil {
		t.Errorf("secret-injector status not all OK within %s: %s", timeout, last)
	}
}

// heldLeases are the lease ids the fleet's agents hold, by their status.
func (f *fleet) heldLeases(ctx context.Context) (map[string]bool, error) {
	rep, err := f.status(ctx)
	if err != nil {
		return nil, err
	}
	held := map[string]bool{}
	for _, p := range rep.Pods {
		if p.Status == nil {
			continue
		}
		for _, sec := range p.Status.Secrets {
			if sec.Lease != nil {
				held[sec.Lease.ID] = true
			}
		}
	}
	return held, nil
}

// leftovers are the leases Vault issued for the database role since the
// fleet started that none of its agents holds.
func (f *fleet) leftovers(ctx context.Context) ([]string, error) {
	held, err := f.heldLeases(ctx)
	if err != nil {
		return nil, err
	}
	v := f.s.Bed.Vault
	prefix := v.DBRef() + "/"
	list, err := v.Root.Logical().ListWithContext(ctx, "sys/leases/lookup/"+prefix)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	var out []string
	if list == nil {
		return nil, nil
	}
	keys, _ := list.Data["keys"].([]any)
	for _, k := range keys {
		id := prefix + fmt.Sprint(k)
		if held[id] {
			continue
		}
		l, err := v.Root.Logical().WriteWithContext(ctx, "sys/leases/lookup", map[string]any{"lease_id": id})
		if err != nil || l == nil {
			continue // revoked meanwhile
		}
		issued, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(l.Data["issue_time"]))
		if issued.After(f.started) {
			out = append(out, id)
		}
	}
	return out, nil
}

// waitNoLeftovers waits until Vault holds no lease of the fleet's that
// no agent holds: a replaced lease is revoked after the agent's 30 s
// grace.
func (f *fleet) waitNoLeftovers(t *testing.T, ctx context.Context, timeout time.Duration) {
	t.Helper()
	var last []string
	var lastErr error
	err := clusterbed.Poll(ctx, timeout, func() (bool, error) {
		last, lastErr = f.leftovers(ctx)
		return lastErr == nil && len(last) == 0, nil
	})
	if err != nil {
		t.Errorf("Vault holds %d leases of this fleet that no agent holds after %s (%v): %v", len(last), timeout, lastErr, last)
	}
}

// agentErrors sums, over the pods' agent metrics, the failed refreshes
// and renewals: what an operator's alert sees.
func agentErrors(ctx context.Context, pods []corev1.Pod) float64 {
	var sum float64
	for _, p := range pods {
		m, err := clusterbed.AgentMetrics(ctx, p)
		if err != nil {
			continue
		}
		for line := range strings.Lines(m) {
			if (strings.HasPrefix(line, "secret_refresh_total{") || strings.HasPrefix(line, "secret_lease_renewals_total{")) &&
				(strings.Contains(line, `result="error"`) || strings.Contains(line, `result="denied"`)) {
				if v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]), 64); err == nil {
					sum += v
				}
			}
		}
	}
	return sum
}

// appRestarts sums the app containers' restarts.
func (f *fleet) appRestarts(t *testing.T, ctx context.Context) int32 {
	t.Helper()
	var n int32
	for _, p := range f.s.podsOf(t, ctx, f.ns, f.name) {
		if cs := clusterbed.ContainerStatus(p, clusterbed.AppName); cs != nil {
			n += cs.RestartCount
		}
	}
	return n
}

// partition drops (on) or stops dropping (off) every packet from pods to
// addr (the gateway's host:port) in the host's packet filter: the pods'
// network path to Vault is cut, established connections included.
func partition(addr string, on bool) error {
	host, port, _ := strings.Cut(addr, ":")
	op := "-I"
	if !on {
		op = "-D"
	}
	args := []string{op, "INPUT", "-d", host, "-p", "tcp", "--dport", port, "-m", "comment", "--comment", "secret-injector-chaos", "-j", "DROP"}
	out, err := exec.Command("iptables", args...).CombinedOutput()
	if err != nil && on {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// fileNames lists each pod's secret files by name (or the error).
func fileNames(ctx context.Context, pods []corev1.Pod) map[string][]string {
	out := map[string][]string{}
	for _, p := range pods {
		files, err := clusterbed.AppFiles(ctx, p)
		if err != nil {
			out[p.Name] = []string{"error: " + err.Error()}
			continue
		}
		out[p.Name] = slices.Sorted(maps.Keys(files))
	}
	return out
}
