package chaos

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tradepulse/secret-injector/agent/backend/vault/vaulttest"
	"github.com/tradepulse/secret-injector/e2e/bed"
	"github.com/tradepulse/secret-injector/e2e/clusterbed"
	"github.com/tradepulse/secret-injector/e2e/faultproxy"
)

// The database role's leases: long enough that a lease nobody renews
// outlives the check for leftovers, short enough that the longest fault
// (a 2-minute partition) reaches a renewal.
const (
	dbTTL    = 2 * time.Minute
	dbMaxTTL = 30 * time.Minute
)

// suite is the cluster bed with the faults' levers: Vault of its own,
// the proxy in front of it, and the report.
type suite struct {
	*clusterbed.Cluster
	vault *vaulttest.FileServer
	proxy *faultproxy.Proxy
	// pg is the Vault bed's PostgreSQL (superuser access, psql).
	pg *vaulttest.Env

	mu sync.Mutex
	// values are every secret value the suite wrote, for the leak
	// sentinel; texts counts what it searched.
	values  []string
	texts   int
	leakHit int
	rows    []*row
}

var (
	the      *suite
	setupErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		setupErr = clusterbed.ErrShort
		os.Exit(m.Run())
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	s, stop, err := setup(ctx)
	cancel()
	setupErr = err
	if err == nil {
		the = s
		fmt.Fprintf(os.Stderr, "fault suite ready in %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	code := m.Run()
	if s != nil {
		if !s.printReport() && code == 0 {
			code = 1
		}
	}
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// setup starts a file-storage Vault with its database engine on the bed's
// PostgreSQL, the fault proxy on the gateway in front of it, and the
// cluster bed with the chart pointed at the proxy.
func setup(ctx context.Context) (s *suite, stop func(), err error) {
	pg, missing := vaulttest.FromEnviron()
	if pg == nil {
		return nil, nil, fmt.Errorf("vault bed absent (%s unset): %s", strings.Join(missing, ", "), bed.VaultEnvHint)
	}
	e, missing := clusterbed.ReadEnv()
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("%s unset: run hack/cluster.sh up and eval \"$(hack/cluster.sh env)\"", strings.Join(missing, ", "))
	}
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
			stop = nil
		}
	}()
	dir, err := os.MkdirTemp("", "secret-injector-chaos-")
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, func() { _ = os.RemoveAll(dir) })
	fmt.Fprintln(os.Stderr, "starting Vault with file storage (initialised, unsealed), for restarts and seals")
	fs, err := vaulttest.StartFileServer(ctx, pg.VaultBin, dir)
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, fs.Stop)
	if err := configureDatabase(ctx, fs, pg); err != nil {
		return nil, nil, err
	}
	proxy, err := faultproxy.Start(net.JoinHostPort(e.Gateway, "0"), fs.Addr)
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, proxy.Close)
	stops = append(stops, func() { _ = partition(proxy.Addr(), false) })
	ve := *pg
	ve.Addr, ve.RootToken, ve.DBMount, ve.DBConnection = fs.Addr, fs.RootToken, "database", "postgres"
	c, stopBed, err := clusterbed.Start(ctx, clusterbed.Options{
		Log: os.Stderr, Vault: &ve, VaultFront: proxy.Addr(), DBTTL: dbTTL, DBMaxTTL: dbMaxTTL,
	})
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, stopBed)
	return &suite{Cluster: c, vault: fs, proxy: proxy, pg: pg}, stop, nil
}

// configureDatabase enables the database secrets engine on fs with a
// connection to the bed's PostgreSQL.
func configureDatabase(ctx context.Context, fs *vaulttest.FileServer, pg *vaulttest.Env) error {
	root, err := rootClient(fs)
	if err != nil {
		return err
	}
	if err := root.Sys().MountWithContext(ctx, "database", &api.MountInput{Type: "database"}); err != nil {
		return fmt.Errorf("enable database secrets engine: %w", err)
	}
	_, err = root.Logical().WriteWithContext(ctx, "database/config/postgres", map[string]any{
		"plugin_name":    "postgresql-database-plugin",
		"connection_url": fmt.Sprintf("postgresql://{{username}}:{{password}}@%s/%s?sslmode=disable", net.JoinHostPort(pg.PGHost, pg.PGPort), pg.PGDatabase),
		"username":       pg.PGUser, "password": pg.PGPassword, "allowed_roles": "*",
	})
	if err != nil {
		return fmt.Errorf("configure the PostgreSQL connection: %w", err)
	}
	return nil
}

func rootClient(fs *vaulttest.FileServer) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = fs.Addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(fs.RootToken)
	return c, nil
}

// need returns the suite (clusterbed.Require: never a skip in CI).
func need(t *testing.T) *suite {
	t.Helper()
	clusterbed.Require(t, "fault suite", setupErr)
	return the
}

// secret registers a value the suite writes, for the leak sentinel.
func (s *suite) secret(v string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = append(s.values, v)
	return v
}

// newNamespace creates a namespace for the test; at its end everything it
// exposes is searched for every secret value so far, it is described if
// the test failed, and deleted.
func (s *suite) newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns, err := s.NewNamespace(vaulttest.Context(t, 30*time.Second), "chaos-"+prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A namespace of 100 pods has 600 logs to read.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		s.checkLeaks(t, ctx, ns)
		if t.Failed() {
			t.Logf("namespace %s at failure:\n%s", ns, s.Describe(ctx, ns))
		}
		_ = s.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	})
	return ns
}

func (s *suite) checkLeaks(t *testing.T, ctx context.Context, ns string) {
	texts, err := s.Exposed(ctx, ns)
	if err != nil {
		t.Errorf("leak sentinel: %v", err)
		return
	}
	s.mu.Lock()
	values := append([]string(nil), s.values...)
	s.mu.Unlock()
	hits := clusterbed.Leaked(texts, values)
	s.mu.Lock()
	s.texts += len(texts)
	s.leakHit += hits
	s.mu.Unlock()
	if hits > 0 {
		t.Errorf("leak sentinel: %d secret values appear in a log, Event, metrics scrape or status answer of %s", hits, ns)
	}
}

// row is one line of the report: a fault, what must hold, what happened.
type row struct {
	fault, holds string
	happened     []string
	took         time.Duration
	pass         bool
}

// record adds t's row to the report; the row passes if t does.
func (s *suite) record(t *testing.T, fault, holds string) *row {
	r := &row{fault: fault, holds: holds}
	start := time.Now()
	s.mu.Lock()
	s.rows = append(s.rows, r)
	s.mu.Unlock()
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		r.took, r.pass = time.Since(start), !t.Failed() && !t.Skipped()
	})
	return r
}

// saw notes what happened, for the report and the test's log.
func (r *row) saw(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	t.Log(msg)
	r.happened = append(r.happened, msg)
}

// printReport prints the table of faults to stderr and .chaos/report.md
// and says whether every fault held and nothing leaked, the report
// included.
func (s *suite) printReport() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	passed := 0
	fmt.Fprintf(&b, "| fault | must hold | what happened | result |\n|---|---|---|---|\n")
	for _, r := range s.rows {
		result := "FAIL"
		if r.pass {
			result = "ok"
			passed++
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s (%s) |\n", r.fault, r.holds, strings.Join(r.happened, "; "), result, r.took.Round(time.Second))
	}
	fmt.Fprintf(&b, "\nfaults survived: %d/%d\n", passed, len(s.rows))
	report := b.String()
	hits := s.leakHit + clusterbed.Leaked([]string{report}, s.values)
	summary := fmt.Sprintf("leak sentinel: %d secret values searched in %d logs, Events, metrics scrapes and status answers, and this report: %d found\n", len(s.values), s.texts+1, hits)
	report += summary
	fmt.Fprintf(os.Stderr, "\n==> fault suite\n%s", report)
	dir := filepath.Join(bed.ModuleRoot(), ".chaos")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "report.md"), []byte(report), 0o644)
	}
	return passed == len(s.rows) && hits == 0
}

// podsOf lists the namespace's running pods of app.
func (s *suite) podsOf(t *testing.T, ctx context.Context, ns, app string) []corev1.Pod {
	t.Helper()
	pods, err := s.RunningPods(ctx, ns, app)
	if err != nil {
		t.Fatal(err)
	}
	return pods
}
