package ctl_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/tradepulse/secret-injector/agent/admin"
	"github.com/tradepulse/secret-injector/ctl"
)

// tableRows splits a table into rows of whitespace-separated cells.
func tableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" {
			rows = append(rows, strings.Fields(line))
		}
	}
	return rows
}

// agentStatus reads an agent's status directly.
func agentStatus(t *testing.T, addr string) admin.Status {
	t.Helper()
	st, err := (&admin.Client{BaseURL: "http://" + addr}).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStatus(t *testing.T) {
	needBed(t)
	ns := namespace(t, "status")
	_, api := app{annotations: annotated(nil)}.deployment(t, ns, "api", 2)
	_, batch := app{annotations: annotated(nil), classic: true}.deployment(t, ns, "batch", 1)
	d := newLocalDialer()
	agents := map[string]*agentProc{}
	for _, pod := range append(api, batch...) {
		a := envAgent(t)
		d.add(pod, a.addr)
		agents[pod.Name] = a
	}

	t.Run("table", func(t *testing.T) {
		r := run(t, d, nil, "status", "-n", ns)
		if r.err != nil {
			t.Fatalf("status failed:\n%s", r)
		}
		rows := tableRows(r.stdout)
		var got [][]string
		for _, row := range rows {
			// NAMESPACE POD SECRET OK VERSION LAST-SUCCESS (two words)
			// LEASE-EXPIRY CERT-EXPIRY ERROR
			got = append(got, row[:4])
		}
		want := [][]string{{"NAMESPACE", "POD", "SECRET", "OK"}}
		for _, pod := range []string{"api-7f9c4-0", "api-7f9c4-1", "batch-7f9c4-0"} {
			want = append(want, []string{ns, pod, "api-key", "yes"}, []string{ns, pod, "api-secret", "yes"})
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("status table (-want +got):\n%s\n%s", d, r.stdout)
		}
		if d := cmp.Diff([]string{"VERSION", "LAST-SUCCESS", "LEASE-EXPIRY", "CERT-EXPIRY", "ERROR"}, rows[0][4:]); d != "" {
			t.Errorf("header (-want +got):\n%s", d)
		}
		for _, row := range rows[1:] {
			st := agentStatus(t, agents[row[1]].addr)
			version := ""
			for _, s := range st.Secrets {
				if s.Name == row[2] {
					version = s.Version
				}
			}
			// VERSION, "<age> ago", no lease, not a certificate, no error.
			got := append([]string{row[4]}, row[6:]...)
			if d := cmp.Diff([]string{version, "ago", "-", "-", "-"}, got); d != "" {
				t.Errorf("row %q: version, last success, lease expiry, cert expiry, error (-want +got):\n%s", row, d)
			}
		}
		if want := "3 pods: 3 ok, 0 failed\n"; r.stderr != want {
			t.Errorf("stderr = %q, want the summary %q", r.stderr, want)
		}
	})

	t.Run("json", func(t *testing.T) {
		r := run(t, d, nil, "status", "-n", ns, "-o", "json", "--secret", "api-secret")
		if r.err != nil {
			t.Fatalf("status failed:\n%s", r)
		}
		var rep ctl.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, r.stdout)
		}
		for _, p := range rep.Pods {
			want := agentStatus(t, agents[p.Pod].addr)
			var only []admin.SecretStatus
			for _, s := range want.Secrets {
				if s.Name == "api-secret" {
					only = append(only, s)
				}
			}
			want.Secrets = only
			if d := cmp.Diff(&want, p.Status); d != "" {
				t.Errorf("%s: status (-agent's +reported):\n%s", p.Name(), d)
			}
			if p.Outcome != ctl.OutcomeOK {
				t.Errorf("%s: outcome %s", p.Name(), p.Outcome)
			}
		}
		if len(rep.Pods) != 3 {
			t.Errorf("%d pods reported, want 3", len(rep.Pods))
		}
	})

	t.Run("yaml", func(t *testing.T) {
		r := run(t, d, nil, "status", "-n", ns, "-o", "yaml")
		if r.err != nil {
			t.Fatalf("status failed:\n%s", r)
		}
		// Strict: every key is a field of the report, as in the JSON.
		var rep ctl.Report
		if err := yaml.UnmarshalStrict([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("not the report as YAML: %v\n%s", err, r.stdout)
		}
		if rep.Command != "status" || len(rep.Pods) != 3 {
			t.Fatalf("report %+v", rep)
		}
		for _, p := range rep.Pods {
			want := agentStatus(t, agents[p.Pod].addr)
			if d := cmp.Diff(&want, p.Status); d != "" {
				t.Errorf("%s: status (-agent's +reported):\n%s", p.Name(), d)
			}
		}
	})

	t.Run("wide", func(t *testing.T) {
		r := run(t, d, nil, "status", "-n", ns, "-o", "wide")
		if r.err != nil {
			t.Fatalf("status failed:\n%s", r)
		}
		rows := tableRows(r.stdout)
		if d := cmp.Diff([]string{"ERROR", "BACKEND", "MODE", "REF", "LAST-RESULT", "LEASE-ID", "CERT-RENEW"}, rows[0][8:]); d != "" {
			t.Errorf("wide header (-want +got):\n%s\n%s", d, r.stdout)
		}
		if len(rows) != 7 {
			t.Fatalf("%d rows, want a header and 6:\n%s", len(rows), r.stdout)
		}
		for _, row := range rows[1:] {
			st := agentStatus(t, agents[row[1]].addr)
			want := []string{st.Backend, st.Mode}
			for _, s := range st.Secrets {
				if s.Name == row[2] {
					want = append(want, s.Ref, s.Result, "-", "-")
				}
			}
			// after VERSION, "<age> ago", LEASE-EXPIRY, CERT-EXPIRY and ERROR
			if d := cmp.Diff(want, row[10:]); d != "" {
				t.Errorf("row %q: backend, mode, ref, result, lease id, cert renew (-agent's +shown):\n%s", row, d)
			}
		}
	})

	t.Run("a failing secret fails the command, naming pod, secret and why", func(t *testing.T) {
		a := agents["api-7f9c4-1"]
		envFile := filepath.Join(a.dir, ".env")
		if err := os.WriteFile(envFile, []byte("EXCHANGES_BINANCE_API_KEY="+sentinel+"key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			for _, s := range agentStatus(t, a.addr).Secrets {
				if s.Name == "api-secret" && !s.OK {
					return true
				}
			}
			return false
		})
		r := run(t, d, nil, "status", "-n", ns)
		if !errors.Is(r.err, ctl.ErrFailed) {
			t.Fatalf("want ErrFailed, got:\n%s", r)
		}
		for _, want := range []string{"1 of 3 pods failed", ns + "/api-7f9c4-1: secret api-secret:"} {
			if !strings.Contains(r.err.Error(), want) {
				t.Errorf("error does not contain %q:\n%s", want, r)
			}
		}
		if !strings.Contains(r.stderr, "3 pods: 2 ok, 1 failed") {
			t.Errorf("no summary line:\n%s", r)
		}
	})
}

// waitFor polls cond for up to 15s: for a local process to notice a file.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
