package charttest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/prometheus/model/labels"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tradepulse/secret-injector/webhook"
)

// dashboardTitle is what the operators' runbook tells them to open.
const dashboardTitle = "Secrets / Refresh Status"

type dashboardDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboardTarget struct {
	Datasource *dashboardDatasource `json:"datasource"`
	Expr       string               `json:"expr"`
	RefID      string               `json:"refId"`
}

type dashboardPanel struct {
	ID         int                  `json:"id"`
	Type       string               `json:"type"`
	Title      string               `json:"title"`
	Datasource *dashboardDatasource `json:"datasource"`
	Targets    []dashboardTarget    `json:"targets"`
	Panels     []dashboardPanel     `json:"panels"` // inside collapsed rows
}

type dashboard struct {
	Title      string           `json:"title"`
	UID        string           `json:"uid"`
	Panels     []dashboardPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string               `json:"name"`
			Type       string               `json:"type"`
			Query      any                  `json:"query"`
			Datasource *dashboardDatasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

// labelValuesRe is Grafana's label_values(selector, label) variable query.
var labelValuesRe = regexp.MustCompile(`^label_values\(\s*(.+?)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)$`)

func readDashboard(t *testing.T) ([]byte, dashboard) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ChartDir(), "dashboards", "refresh-status.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("refresh-status.json is not valid JSON: %v", err)
	}
	return b, d
}

// clusterMatcher is what every query of the dashboard carries, so that one
// Grafana over several clusters' series (Thanos, Mimir, federation) shows
// one cluster at a time; where series have no cluster label, All (.*)
// matches them.
const clusterMatcher = `cluster=~"$cluster"`

// checkClusterScoped reports a selector of expr without the cluster
// matcher.
func checkClusterScoped(t *testing.T, where, expr string) {
	t.Helper()
	e, err := parseExpr(expr)
	if err != nil {
		return // checkExpr reports it
	}
	for _, vs := range selectors(e) {
		m := matcher(vs, "cluster")
		if m == nil || m.Type != labels.MatchRegexp || m.Value != "$cluster" {
			t.Errorf("%s: selector %s lacks %s", where, vs, clusterMatcher)
		}
	}
}

// TestDashboard: the dashboard the runbook names exists, every query goes
// through the datasource variable and the cluster variable, and every query
// asks for metrics that the agents, the webhook or the components the
// alerts name actually export, as Prometheus parses it.
func TestDashboard(t *testing.T) {
	_, d := readDashboard(t)
	if d.Title != dashboardTitle {
		t.Errorf("title = %q, want %q", d.Title, dashboardTitle)
	}
	if d.UID != "secrets-refresh-status" {
		t.Errorf("uid = %q, want the stable secrets-refresh-status (links and bookmarks use it)", d.UID)
	}

	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
		switch v.Type {
		case "datasource":
			if v.Query != "prometheus" {
				t.Errorf("variable %s: query %v, want prometheus", v.Name, v.Query)
			}
		case "query":
			if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
				t.Errorf("variable %s: datasource %+v, want ${datasource}", v.Name, v.Datasource)
			}
			q, _ := v.Query.(map[string]any)["query"].(string)
			m := labelValuesRe.FindStringSubmatch(q)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q)
				continue
			}
			checkExpr(t, "variable "+v.Name, m[1])
			if v.Name != "cluster" {
				checkClusterScoped(t, "variable "+v.Name, m[1])
			}
		}
	}
	// a variable can only use the ones before it
	if diff := cmp.Diff([]string{"datasource", "cluster", "namespace", "pod"}, vars); diff != "" {
		t.Errorf("template variables (-want +got):\n%s", diff)
	}

	used := map[string]bool{}
	ids := map[int]string{}
	titles := map[string]bool{}
	for _, p := range flattenPanels(d.Panels) {
		where := fmt.Sprintf("panel %q", p.Title)
		if other, dup := ids[p.ID]; dup {
			t.Errorf("%s: id %d is also %q's", where, p.ID, other)
		}
		ids[p.ID] = p.Title
		titles[p.Title] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: datasource %+v, want uid ${datasource}", where, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		for _, tg := range p.Targets {
			w := fmt.Sprintf("%s query %s", where, tg.RefID)
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("%s: datasource %+v, want uid ${datasource}", w, tg.Datasource)
			}
			checkExpr(t, w, tg.Expr)
			checkClusterScoped(t, w, tg.Expr)
			names, _ := metricNames(tg.Expr)
			for _, n := range names {
				used[n] = true
			}
		}
	}

	// what the runbook's verification step looks at, and the webhook's
	// request rate, latency, denials and certificate
	for _, want := range []string{
		"secret_rotation_status",
		"secret_last_success_timestamp_seconds",
		"secret_lease_expiry_timestamp_seconds",
		"secret_certificate_expiry_timestamp_seconds",
		"secret_refresh_total",
		"secret_injector_webhook_admissions_total",
		"secret_injector_webhook_admission_duration_seconds_bucket",
		"secret_injector_webhook_certificate_expiry_timestamp_seconds",
		"secret_injector_webhook_requests_refused_total",
		"apiserver_admission_webhook_request_total",
		"apiserver_admission_webhook_rejection_count",
	} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
	for _, want := range []string{"Certificate time to expiry", "Webhook", "Webhook requests by result", "Webhook admission latency",
		"Webhook denials and refused requests", "Webhook certificate expires in"} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}

// TestDashboardAPIServerQueries: the panels on the API server's calls
// select our webhook by the name the chart registers it under.
func TestDashboardAPIServerQueries(t *testing.T) {
	_, d := readDashboard(t)
	var n int
	for _, p := range flattenPanels(d.Panels) {
		for _, tg := range p.Targets {
			e, err := parseExpr(tg.Expr)
			if err != nil {
				continue
			}
			for _, vs := range selectors(e) {
				if !strings.HasPrefix(selectorName(vs), "apiserver_admission_webhook_") {
					continue
				}
				n++
				if m := matcher(vs, "name"); m == nil || m.Type != labels.MatchEqual || m.Value != webhook.WebhookName {
					t.Errorf("panel %q: %s does not select name=%q", p.Title, vs, webhook.WebhookName)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no panel reads the API server's admission webhook metrics")
	}
}

func flattenPanels(ps []dashboardPanel) []dashboardPanel {
	var out []dashboardPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flattenPanels(p.Panels)...)
	}
	return out
}

// TestDashboardConfigMap: the rendered ConfigMap carries the file unchanged
// and the label the Grafana sidecar looks for.
func TestDashboardConfigMap(t *testing.T) {
	helm := helmBinary(t)
	raw, _ := readDashboard(t)
	objs, err := Render(helm, renderCaseNamed(t, "monitoring").values, testNamespace)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" {
			continue
		}
		found = true
		if got := o.GetLabels()["grafana_dashboard"]; got != "1" {
			t.Errorf("label grafana_dashboard = %q, want \"1\"", got)
		}
		data, _, _ := unstructured.NestedString(o.Object, "data", "refresh-status.json")
		if data != string(raw) {
			t.Error("ConfigMap data differs from dashboards/refresh-status.json")
		}
		var d dashboard
		if err := json.Unmarshal([]byte(data), &d); err != nil || d.Title != dashboardTitle {
			t.Errorf("ConfigMap dashboard: title %q, err %v", d.Title, err)
		}
	}
	if !found {
		t.Fatal("monitoring render has no dashboard ConfigMap")
	}
}
